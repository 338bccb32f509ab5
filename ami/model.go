package ami

import (
	"bytes"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/internal/lograte"
	"github.com/ctiws/ctiws/pbx"
	"github.com/staskobzar/goami2"
)

// Model is the live model of one PBX. It is fed AMI events (Apply) and
// snapshot results (ApplySnapshot) and returns the change events to publish.
// An object's change event is returned only when its JSON (without the
// clock-derived fields) differs from the last one returned for it.
//
// Model is safe for concurrent use; the runner feeds it from one goroutine.
type Model struct {
	mu     sync.Mutex
	tenant string
	log    *slog.Logger
	hooks  *Hooks
	rl     *lograte.Limiter
	now    func() time.Time
	dir    *directory.Directory
	objs   *Objects
	enc    *pbx.Encoder

	seq uint64 // messages applied; stamps channel creation and changes

	chans       map[string]*channel // by channel name
	bridges     map[string]*bridge  // by BridgeUniqueid
	exts        map[string]*extension
	trunks      map[string]*trunk
	queues      map[string]*queue
	parkings    map[string]*pbx.Parking // by space
	lots        map[string]lot
	confs       map[string]*pbx.Conference // by conference id (owner)
	vms         map[string]*pbx.Voicemail
	linkedQueue map[string]string // Linkedid → queue it went through
	gone        map[string]uint64 // hung-up Uniqueid → seq
	// contactSeq is the seq of each endpoint's last ContactStatus;
	// contactQueries are the endpoints whose contact details (user agent)
	// the runner is to read (PJSIPShowEndpoint), with that seq.
	contactSeq     map[string]uint64
	contactQueries map[string]uint64
	// contactURI is the URI of the contact whose address each endpoint
	// shows: a Removed of another contact of the same AOR (a second
	// device registered to it) leaves the shown one alone.
	contactURI map[string]string

	// last is the digest of the last published comparison JSON per
	// object (the JSON itself is not kept: a node holds it for every
	// object of every tenant it owns).
	last    map[okey]pbx.Digest
	digests pbx.Digester
	// busKeys are the bus keys (exten/201, …) of the objects published, built
	// once per object rather than once per change.
	busKeys map[okey]string
	dirty   []okey
	out     []cluster.Event
	scratch convScratch // for the object being published
}

type extension struct {
	obj   pbx.Extension // without conversations
	chans map[string]*channel
}

type trunk struct {
	obj   pbx.Trunk // without conversations
	cfg   TrunkConfig
	chans map[string]*channel
}

type queue struct {
	obj     pbx.Queue
	touched uint64
	inSL    map[string]bool // Linkedids answered within the service level
}

type lot struct {
	name        string
	start, stop int
	timeout     int
}

// NewModel returns an empty model of tenant's PBX. now may be nil
// (time.Now); log and hooks may be nil.
func NewModel(tenant string, dir *directory.Directory, objs *Objects, log *slog.Logger, hooks *Hooks, now func() time.Time) *Model {
	if dir == nil {
		dir = directory.Empty()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if hooks == nil {
		hooks = &Hooks{}
	}
	if now == nil {
		now = time.Now
	}
	m := &Model{
		tenant: tenant, log: log, hooks: hooks, rl: lograte.New(log, time.Minute), now: now,
		dir: dir, objs: objs, enc: pbx.NewEncoder(), last: map[okey]pbx.Digest{}, digests: pbx.NewDigester(),
		busKeys: map[okey]string{},
	}
	m.clear()
	return m
}

// clear drops all PBX state (not what was published).
func (m *Model) clear() {
	m.chans = map[string]*channel{}
	m.bridges = map[string]*bridge{}
	m.exts = map[string]*extension{}
	m.trunks = map[string]*trunk{}
	m.queues = map[string]*queue{}
	m.parkings = map[string]*pbx.Parking{}
	m.lots = map[string]lot{}
	m.confs = map[string]*pbx.Conference{}
	m.vms = map[string]*pbx.Voicemail{}
	m.linkedQueue = map[string]string{}
	m.gone = map[string]uint64{}
	m.contactSeq = map[string]uint64{}
	m.contactQueries = map[string]uint64{}
	m.contactURI = map[string]string{}
}

func (m *Model) nowMs() int64 { return m.now().UnixMilli() }

// Apply applies AMI events in order and appends the resulting events to dst.
func (m *Model) Apply(dst []cluster.Event, msgs ...*goami2.Message) []cluster.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.out = dst
	for _, msg := range msgs {
		m.seq++
		m.event(msg)
		m.flush()
	}
	dst = m.out
	m.out = nil
	return dst
}

// update runs fn on the model under its lock and returns the events it
// caused (used by commands and reconciliation).
func (m *Model) update(fn func()) []cluster.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	m.out = nil
	fn()
	m.flush()
	out := m.out
	m.out = nil
	return out
}

// Forget drops what was published, so that the next snapshot republishes
// every object (after a failed publish).
func (m *Model) Forget() {
	m.mu.Lock()
	m.last = map[okey]pbx.Digest{}
	m.mu.Unlock()
}

// mark records that object k may have changed.
func (m *Model) mark(k okey) {
	for _, d := range m.dirty {
		if d == k {
			return
		}
	}
	m.dirty = append(m.dirty, k)
}

func (m *Model) markExt(id string)   { m.mark(okey{k: pbx.KindExten, id: id}) }
func (m *Model) markTrunk(id string) { m.mark(okey{k: pbx.KindTrunk, id: id}) }
func (m *Model) markQueue(id string) { m.mark(okey{k: pbx.KindQueue, id: id}) }

// markOwner marks the extension or trunk owning c.
func (m *Model) markOwner(c *channel) {
	if c == nil {
		return
	}
	if c.ext != "" {
		m.markExt(c.ext)
	} else if c.trunk != "" {
		m.markTrunk(c.trunk)
	}
}

// notify appends a non-keyed call event.
func (m *Model) notify(name string, v any) {
	b, err := m.enc.Encode(v)
	if err != nil {
		m.log.Error("ami: marshal event", "event", name, "err", err)
		return
	}
	m.out = append(m.out, cluster.Event{Tenant: m.tenant, Name: name, Data: bytes.Clone(b)})
}

// flush publishes every dirty object whose JSON changed.
func (m *Model) flush() {
	for i := 0; i < len(m.dirty); i++ {
		m.publish(m.dirty[i])
	}
	m.dirty = m.dirty[:0]
}

// publish compares object k with what was last published and appends its
// change (or deletion) event. Each kind is encoded by its typed encoder:
// through an interface the object would move to the heap. An object with
// clock-derived fields is compared by its JSON without them (as after
// SetTimes(0)) and published with them (Encoder.Stamp: as after
// SetTimes(now)).
func (m *Model) publish(k okey) {
	switch k.k {
	case pbx.KindExten:
		if e := m.exts[k.id]; e != nil {
			convs := m.extensionConvs(e, &m.scratch)
			m.publishJSON(k, m.enc.CompareExtensionList(&e.obj, convs))
			m.scratch.reset()
			return
		}
	case pbx.KindTrunk:
		if t := m.trunks[k.id]; t != nil {
			v := m.trunkJSON(t, &m.scratch)
			m.publishJSON(k, m.enc.CompareTrunk(&v))
			m.scratch.reset()
			return
		}
	case pbx.KindQueue:
		if q := m.queues[k.id]; q != nil {
			m.publishJSON(k, m.enc.CompareQueue(&q.obj))
			return
		}
	case pbx.KindQueueMember:
		if q := m.queues[k.id]; q != nil {
			if mem, ok := q.obj.Members[k.sub]; ok {
				m.publishJSON(k, m.enc.QueueMember(&mem))
				return
			}
		}
	case pbx.KindParking:
		if p := m.parkings[k.id]; p != nil {
			m.publishJSON(k, m.enc.CompareParking(p))
			return
		}
	case pbx.KindConf:
		if c := m.confs[k.id]; c != nil {
			m.publishJSON(k, m.enc.Conference(c))
			return
		}
	case pbx.KindVoicemail:
		if v := m.vms[k.id]; v != nil {
			m.publishJSON(k, m.enc.Voicemail(v))
			return
		}
	}
	m.deleted(k)
}

// changed reports whether b, the comparison JSON of object k (without the
// clock-derived fields), differs from the last one published, and records
// it as published.
func (m *Model) changed(k okey, b []byte) bool {
	d := m.digests.Sum(b)
	old, ok := m.last[k]
	if ok && old == d {
		return false
	}
	if !ok {
		// A key kept for as long as the object lives: its own copy of
		// the id, not a substring of the AMI frame it was read from.
		k.id, k.sub = keep(k.id), keep(k.sub)
	}
	m.last[k] = d
	return true
}

// publishJSON publishes object k if b, its JSON from the last call of
// m.enc (a comparison JSON for an object with clock-derived fields),
// changed; the event carries those fields for now.
func (m *Model) publishJSON(k okey, b []byte) {
	if !m.changed(k, b) {
		return
	}
	var data []byte
	if m.enc.Timed() {
		data = m.enc.Stamp(m.nowMs())
	} else {
		data = bytes.Clone(b)
	}
	m.out = append(m.out, cluster.Event{Tenant: m.tenant, Name: k.k.ChangeEvent(), Key: m.busKey(k), Data: data})
}

// busKey is k's bus key, kept while the object lives (deleted drops it).
func (m *Model) busKey(k okey) string {
	s, ok := m.busKeys[k]
	if !ok {
		s = k.String()
		k.id, k.sub = keep(k.id), keep(k.sub) // not substrings of a frame
		m.busKeys[k] = s
	}
	return s
}

// deleted publishes the removal of an object that was published before.
func (m *Model) deleted(k okey) {
	delete(m.busKeys, k)
	if _, ok := m.last[k]; !ok {
		return
	}
	delete(m.last, k)
	ev := cluster.Event{Tenant: m.tenant, Name: k.k.ChangeEvent(), Key: k.String(), Del: true}
	if k.k == pbx.KindConf {
		ev.Name = pbx.EvConfBridgeConfEnd
		ev.Data = pbx.ConfEndJSON(k.id)
	}
	m.out = append(m.out, ev)
}

// keys lists every object of the model, sorted by kind then id.
func (m *Model) keys() []okey {
	var ks []okey
	for id := range m.exts {
		ks = append(ks, okey{k: pbx.KindExten, id: id})
	}
	for id, q := range m.queues {
		ks = append(ks, okey{k: pbx.KindQueue, id: id})
		for mem := range q.obj.Members {
			ks = append(ks, okey{k: pbx.KindQueueMember, id: id, sub: mem})
		}
	}
	for id := range m.trunks {
		ks = append(ks, okey{k: pbx.KindTrunk, id: id})
	}
	for id := range m.parkings {
		ks = append(ks, okey{k: pbx.KindParking, id: id})
	}
	for id := range m.confs {
		ks = append(ks, okey{k: pbx.KindConf, id: id})
	}
	for id := range m.vms {
		ks = append(ks, okey{k: pbx.KindVoicemail, id: id})
	}
	sortKeys(ks)
	return ks
}

func sortKeys(ks []okey) {
	sort.Slice(ks, func(i, j int) bool {
		a, b := ks[i], ks[j]
		if a.k != b.k {
			return a.k < b.k
		}
		if a.id != b.id {
			return a.id < b.id
		}
		return a.sub < b.sub
	})
}

// resyncAll marks every object, and every published object that no longer
// exists, for comparison.
func (m *Model) resyncAll() {
	m.dirty = append(m.dirty, m.keys()...) // unique: no need for mark's dedupe
	gone := make([]okey, 0)
	for k := range m.last {
		if !m.exists(k) {
			gone = append(gone, k)
		}
	}
	sortKeys(gone)
	m.dirty = append(m.dirty, gone...)
}

func (m *Model) exists(k okey) bool {
	switch k.k {
	case pbx.KindExten:
		return m.exts[k.id] != nil
	case pbx.KindTrunk:
		return m.trunks[k.id] != nil
	case pbx.KindQueue:
		return m.queues[k.id] != nil
	case pbx.KindQueueMember:
		q := m.queues[k.id]
		if q == nil {
			return false
		}
		_, ok := q.obj.Members[k.sub]
		return ok
	case pbx.KindParking:
		return m.parkings[k.id] != nil
	case pbx.KindConf:
		return m.confs[k.id] != nil
	default:
		return m.vms[k.id] != nil
	}
}

// skip counts and (rate-limited) logs an ignored event or object.
func (m *Model) skip(reason string, args ...any) {
	m.hooks.skipped(reason)
	m.rl.Warn(reason, "ami: model skipped input", args...)
}

// extName is the directory name of an extension ("" if unknown).
func (m *Model) extName(ext string) string {
	if u, ok := m.dir.OwnerOf(ext); ok {
		return u.Name
	}
	return ""
}

func (m *Model) currentSeq() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seq
}

// refreshIdentities re-reads names and usernames from the directory;
// extensions no longer in it are removed.
func (m *Model) refreshIdentities() []cluster.Event {
	return m.update(func() {
		for id, e := range m.exts {
			if _, ok := m.dir.OwnerOf(id); !ok {
				for _, c := range e.chans {
					c.ext = ""
				}
				delete(m.exts, id)
				m.markExt(id)
				continue
			}
			m.fillIdentity(e)
			m.markExt(id)
		}
	})
}

package ws

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/internal/guard"
	"github.com/ctiws/ctiws/pbx"
)

// stateCache is the router's copy of the tenant's PBX state, kept small
// (a node holds it for every extension of every tenant it serves): a
// digest of every object's last JSON (to skip unchanged objects and to find
// what a resync changed), the few fields of each extension the presence
// rules read, and the decoded conferences the conference rules need. The
// JSON itself is not kept.
type stateCache struct {
	digests pbx.Digester
	objects map[string]pbx.Digest // key -> digest of the last JSON seen
	// extens maps an extension id to what the presence rules read of it.
	extens map[string]extenPresence
	confs  map[string]*pbx.Conference
	// confAudience lists, per conference id, the users that were sent
	// its updates while it lived: its end goes to them even when the
	// last update before the end had no participants left
	// (docs/protocol.md, section 4.1).
	confAudience map[string][]string
	// presence is the digest of the last userPresenceUpdate payload per
	// user.
	presence map[string]pbx.Digest
	// mainPresenceSent is the digest of the last userMainPresenceUpdate
	// payload per user.
	mainPresenceSent map[string]pbx.Digest
}

func newStateCache() stateCache {
	return stateCache{
		digests:          pbx.NewDigester(),
		objects:          map[string]pbx.Digest{},
		extens:           map[string]extenPresence{},
		confs:            map[string]*pbx.Conference{},
		confAudience:     map[string][]string{},
		presence:         map[string]pbx.Digest{},
		mainPresenceSent: map[string]pbx.Digest{},
	}
}

// unchanged reports whether data is what the cache holds for key (an
// empty data for a key it does not hold counts as unchanged).
func (s *stateCache) unchanged(key string, data []byte) bool {
	d, ok := s.objects[key]
	if !ok {
		return len(data) == 0
	}
	return d == s.digests.Sum(data)
}

// holds reports whether the cache holds key with exactly data.
func (s *stateCache) holds(key string, data []byte) bool {
	d, ok := s.objects[key]
	return ok && d == s.digests.Sum(data)
}

// presenceOf returns what the presence rules read of extension id (nil:
// unknown).
func (s *stateCache) presenceOf(id string) *extenPresence {
	if p, ok := s.extens[id]; ok {
		return &p
	}
	return nil
}

// remember updates the cache from a keyed event without routing it.
func (s *stateCache) remember(ev cluster.Event) {
	if ev.Key == "" {
		return
	}
	if ev.Del {
		s.forget(ev.Key)
		return
	}
	k, _, ok := pbx.KindOf(ev.Key)
	switch {
	case ok && k == pbx.KindExten:
		_, _ = s.rememberExten(ev)
	case ok && k == pbx.KindConf:
		_, _ = s.rememberConf(ev)
	default:
		s.objects[ev.Key] = s.digests.Sum(ev.Data)
	}
}

// rememberExten decodes an extension, caches what the presence rules
// need of it, and returns it decoded.
func (s *stateCache) rememberExten(ev cluster.Event) (*pbx.Extension, error) {
	var e pbx.Extension
	if err := json.Unmarshal(ev.Data, &e); err != nil {
		return nil, err
	}
	s.objects[ev.Key] = s.digests.Sum(ev.Data)
	id := e.Exten
	if _, kid, ok := pbx.KindOf(ev.Key); ok && kid == id {
		id = kid // shares the key's bytes
	}
	s.extens[id] = *presenceOf(&e)
	return &e, nil
}

// rememberConf decodes a conference once and caches it.
func (s *stateCache) rememberConf(ev cluster.Event) (*pbx.Conference, error) {
	var c pbx.Conference
	if err := json.Unmarshal(ev.Data, &c); err != nil {
		return nil, err
	}
	s.objects[ev.Key] = s.digests.Sum(ev.Data)
	s.confs[c.ID] = &c
	return &c, nil
}

// forget drops an object from the cache.
func (s *stateCache) forget(key string) {
	delete(s.objects, key)
	k, id, ok := pbx.KindOf(key)
	switch {
	case ok && k == pbx.KindExten:
		delete(s.extens, id)
	case ok && k == pbx.KindConf:
		delete(s.confs, id)
		delete(s.confAudience, id)
	}
}

// addConfAudience records that users were sent conference id's update.
func (s *stateCache) addConfAudience(id string, users []string) {
	have := s.confAudience[id]
	for _, u := range users {
		if !slices.Contains(have, u) {
			have = append(have, u)
		}
	}
	s.confAudience[id] = have
}

// nameForKey maps a state key to the owner event that carries it ("" for
// a key of no known kind).
func nameForKey(key string) string {
	if k, _, ok := pbx.KindOf(key); ok {
		return k.ChangeEvent()
	}
	return ""
}

// stateLoad tracks the reads of the tenant's state from the bus. A read
// runs on a goroutine of its own, without r.mu: it can take up to
// stateTimeout, and the tenant's events go on being routed meanwhile. The
// state carries the sequence number it is consistent with; the keys that
// events changed while the read ran are remembered with their sequence
// numbers, so an older state never overwrites a newer event.
type stateLoad struct {
	done    bool // a whole state was applied
	running bool // a read is in flight
	emit    bool // the running read routes what changed
	failed  bool // the last read failed: the next event retries
	// again asks for another read once the running one is in (a resync came
	// meanwhile); againEmit is its emit.
	again, againEmit bool
	// touched maps the keys events changed while the read runs to the
	// sequence number of the last such event.
	touched map[string]uint64
	// held are the events that came before the first state, routed once
	// it is in.
	held []cluster.Event
	// ctx bounds the reads (nil: not bounded but by stateTimeout).
	ctx context.Context
}

// maxHeldEvents bounds the events held back until the first state is in;
// past it they are routed with what the cache holds.
const maxHeldEvents = 10000

// touch notes an object event applied while a read runs.
func (l *stateLoad) touch(ev cluster.Event) {
	if l.touched != nil && ev.Key != "" {
		l.touched[ev.Key] = ev.Seq
	}
}

// newer reports whether an event newer than a state of sequence seq
// changed key while the state was read.
func (l *stateLoad) newer(touched map[string]uint64, key string, seq uint64) bool {
	s, ok := touched[key]
	return ok && s > seq
}

// loadFirst starts reading the state once the subscription is in place;
// ctx (the tenant's life on this node) bounds every state read from now
// on.
func (r *router) loadFirst(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.load.ctx = ctx
	if !r.load.done && !r.load.running {
		r.startLoad(false)
	}
}

// hold keeps an event back until the first state is in; false means it
// is to be routed now (the read failed last time, or too many wait). r.mu
// is held.
func (r *router) hold(ev cluster.Event) bool {
	l := &r.load
	if !l.running {
		retry := l.failed
		l.failed = false
		r.startLoad(false)
		if retry {
			return false // as before the failure: route with what is cached
		}
	}
	if len(l.held) >= maxHeldEvents {
		return false
	}
	l.held = append(l.held, ev)
	return true
}

// startLoad reads the tenant's state in the background, or asks for one
// more read when one runs already. With emit, every object that differs
// from what this node had is routed again, so clients get the updates a
// gap or an outage made the node miss. r.mu is held.
func (r *router) startLoad(emit bool) {
	l := &r.load
	if l.running {
		l.again = true
		l.againEmit = l.againEmit || emit
		return
	}
	l.running, l.emit = true, emit
	l.touched = map[string]uint64{}
	base := l.ctx
	if base == nil {
		base = context.Background()
	}
	go r.readState(base)
}

// readState reads the state without r.mu, then applies it under r.mu in
// one batch.
func (r *router) readState(base context.Context) {
	ctx, cancel := context.WithTimeout(base, r.stateTimeout)
	objs, seq, err := r.bus.State(ctx, r.tenant.ID, "")
	cancel()
	if base.Err() != nil {
		return // the tenant is no longer served here
	}
	r.batch(func() {
		defer r.panics.Recover(guard.Router, r.tenant.ID, func(error) {
			r.load = stateLoad{held: r.load.held, ctx: r.load.ctx}
		})
		r.applyState(objs, seq, err)
	})
}

// applyState applies a state read (or its failure), routes the events
// held back for it and starts the read asked for meanwhile. r.mu is held.
func (r *router) applyState(objs []cluster.Object, seq uint64, err error) {
	l := &r.load
	emit, touched := l.emit, l.touched
	l.running, l.touched = false, nil
	if err != nil {
		l.failed = true
		r.log.Warn("state load failed; will retry on the next event", "tenant", r.tenant.ID, "err", err)
	} else {
		r.applyObjects(objs, seq, emit, touched)
	}
	held := l.held
	l.held = nil
	for _, ev := range held {
		r.guarded(ev, r.route, false)
	}
	if l.again {
		e := l.againEmit
		l.again, l.againEmit = false, false
		r.startLoad(e)
	}
}

// applyObjects brings the cache to a state of sequence seq, skipping the
// keys that events newer than the state changed meanwhile (touched).
func (r *router) applyObjects(objs []cluster.Object, seq uint64, emit bool, touched map[string]uint64) {
	if emit {
		r.metrics.Resyncs.WithLabelValues(r.tenant.ID).Inc()
	}
	seen := make(map[string]bool, len(objs))
	changed := 0
	for _, o := range objs {
		seen[o.Key] = true
		if r.load.newer(touched, o.Key, seq) || r.state.holds(o.Key, o.Data) {
			continue
		}
		changed++
		ev := cluster.Event{Tenant: r.tenant.ID, Key: o.Key, Data: o.Data, Name: nameForKey(o.Key)}
		if emit && ev.Name != "" {
			r.pbxEvent(ev)
		} else {
			r.state.remember(ev)
		}
	}
	for key := range r.state.objects {
		if seen[key] || r.load.newer(touched, key, seq) {
			continue
		}
		changed++
		if k, id, ok := pbx.KindOf(key); emit && ok && k == pbx.KindConf {
			r.pbxEvent(cluster.Event{Tenant: r.tenant.ID, Key: key, Del: true, Name: pbx.EvConfBridgeConfEnd, Data: pbx.ConfEndJSON(id)})
			continue
		}
		r.state.forget(key)
	}
	if emit {
		r.log.Info("resynced from state", "tenant", r.tenant.ID, "objects", len(objs), "changed", changed)
	}
	// The state's sequence number is the new base, unless events newer
	// than the state were routed while it was read.
	if !r.load.done || seq >= r.seq {
		r.seq = seq
	}
	r.load.done = true
}

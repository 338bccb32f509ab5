package ami

import (
	"strings"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/pbx"
	"github.com/staskobzar/goami2"
)

// snapshotData is everything the (re)connect snapshot read from Asterisk.
type snapshotData struct {
	endpointsOK bool
	endpoints   []*goami2.Message            // EndpointList items
	details     map[string][]*goami2.Message // PJSIPShowEndpoint items per endpoint
	channels    []*goami2.Message            // CoreShowChannel items
	queues      []*goami2.Message            // QueueParams, QueueMember, QueueEntry
	lots        []*goami2.Message            // Parkinglot items
	parked      []*goami2.Message            // ParkedCall items
	confs       []*goami2.Message            // ConfbridgeList items
	db          []dbEntry                    // DND, CF, CFB, CFU values
	voicemail   []*goami2.Message            // VoicemailUserEntry items
	regs        []*goami2.Message            // OutboundRegistrationDetail items
	hints       []*goami2.Message            // ExtensionStatus items of ExtensionStateList
	contacts    []*goami2.Message            // ContactList items of PJSIPShowContacts
}

type dbEntry struct{ family, key, val string }

// endpointStatus maps EndpointDetail/EndpointList DeviceState text.
func endpointStatus(s string) (string, bool) {
	switch strings.ToLower(s) {
	case "not in use":
		return "NOT_INUSE", true
	case "in use":
		return "INUSE", true
	case "busy":
		return "BUSY", true
	case "ringing":
		return "RINGING", true
	case "ring+inuse", "ringinuse":
		return "RINGINUSE", true
	case "on hold":
		return "ONHOLD", true
	case "unavailable", "invalid", "unknown":
		return "UNAVAILABLE", true
	}
	return "", false
}

// applySnapshot replaces the PBX state with d and returns the change events
// against what was published before (changes and deletions), followed by
// one EvResync.
func (m *Model) applySnapshot(d *snapshotData) []cluster.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	m.out = nil
	m.dirty = m.dirty[:0]
	m.clear()

	// Extensions: directory extensions that Asterisk lists as endpoints.
	if d.endpointsOK {
		for _, it := range d.endpoints {
			id := field(it, "ObjectName")
			if _, ok := m.dir.OwnerOf(id); ok {
				e := m.newExtension(id)
				if st, ok := endpointStatus(field(it, "DeviceState")); ok {
					e.obj.Status, _ = deviceStatus(st)
				}
			} else if _, ok := m.objs.trunk(id); !ok && !trunkEndpoint(it, id, d.regs) {
				m.skip("unknown_endpoint", "endpoint", id)
			}
		}
	} else {
		for _, u := range m.dir.Users() {
			for _, e := range u.Extensions {
				m.newExtension(e.ID)
			}
		}
	}
	// Trunks the PBX tells about: endpoints that authenticate outwards or
	// register to a provider (the objects file adds names and limits).
	if d.endpointsOK {
		for _, it := range d.endpoints {
			id := field(it, "ObjectName")
			if _, isExt := m.exts[id]; isExt || !pbx.ValidID(id) {
				continue
			}
			if _, declared := m.objs.trunk(id); !declared && trunkEndpoint(it, id, d.regs) {
				t := m.newTrunk(id, TrunkConfig{Name: id})
				if st, ok := endpointStatus(field(it, "DeviceState")); ok {
					if s, ok := trunkStatus(st); ok {
						t.obj.Status = s
					}
				}
			}
		}
	}
	if m.objs != nil {
		for id, cfg := range m.objs.Trunks {
			m.newTrunk(id, cfg)
		}
		for id := range m.objs.Queues {
			m.queueFor(id)
		}
	}
	for id, items := range d.details {
		m.applyEndpointDetail(id, items)
	}
	// Fallbacks for what the endpoint details did not tell: contacts
	// (address, user agent) and hint states (when PJSIPShowEndpoints is
	// not available, e.g. an AMI user without the permission).
	for _, it := range d.contacts {
		id := field(it, "Endpoint")
		if e := m.exts[id]; e != nil && e.obj.IP == "" && !strings.EqualFold(field(it, "Status"), "Unreachable") {
			via := field(it, "ViaAddr")
			if p := field(it, "ViaPort"); via != "" && p != "" && !strings.Contains(via, ":") {
				via += ":" + p
			}
			m.contact(id, via, field(it, "Uri"), field(it, "UserAgent"), false)
		}
	}
	if !d.endpointsOK {
		for _, it := range d.hints {
			m.onExtensionStatus(it)
		}
	}
	m.loadChannels(d.channels)
	m.applyQueueStatus(d.queues)
	for _, it := range d.lots {
		m.onParkinglot(it)
	}
	if len(m.lots) == 0 && m.objs != nil {
		for name, p := range m.objs.Parkings {
			m.addLot(lot{name: name, start: p.Start, stop: p.Stop, timeout: p.Timeout})
		}
	}
	for _, it := range d.parked {
		m.onParkedCall(it)
	}
	for _, it := range d.confs {
		m.onConfJoin(it)
	}
	for _, e := range d.db {
		m.setDB(e.family, e.key, e.val)
	}
	for _, it := range d.voicemail {
		box := field(it, "VoiceMailbox")
		if box != "" && len(m.dir.VoicemailOwners(box)) > 0 {
			m.setVoicemail(box, field(it, "NewMessageCount"), field(it, "OldMessageCount"))
		}
	}
	for _, it := range d.regs {
		t := m.matchTrunk(field(it, "Endpoint"), field(it, "ClientUri"), field(it, "ServerUri"))
		if t != nil {
			t.obj.Registration = registration(field(it, "Status"))
		}
	}
	m.dirty = m.dirty[:0]
	m.resyncAll()
	m.flush()
	out := append(m.out, cluster.Event{Tenant: m.tenant, Name: cluster.EvResync})
	m.out = nil
	return out
}

func (m *Model) newTrunk(id string, cfg TrunkConfig) *trunk {
	tech := strings.ToLower(cfg.Tech)
	if tech == "" {
		tech = "pjsip"
	}
	maxCh := cfg.MaxChannels
	if maxCh == 0 {
		maxCh = 4
	}
	t := &trunk{cfg: cfg, chans: map[string]*channel{}, obj: pbx.Trunk{
		Exten: id, Name: cfg.Name, ChanType: tech, MaxChannels: maxCh, Codecs: pbx.Codecs{},
		Status: "unmonitored", Registration: "unmonitored",
	}}
	m.trunks[id] = t
	return t
}

// applyEndpointDetail applies the PJSIPShowEndpoint answer of an endpoint.
func (m *Model) applyEndpointDetail(id string, items []*goami2.Message) {
	e, t := m.exts[id], m.trunks[id]
	if e == nil && t == nil {
		return
	}
	for _, it := range items {
		switch field(it, "Event") {
		case "EndpointDetail":
			st, known := endpointStatus(field(it, "DeviceState"))
			if e != nil {
				e.obj.Context = intern(field(it, "Context"))
				e.obj.Codecs = codecs(field(it, "Allow"))
				if known {
					e.obj.Status, _ = deviceStatus(st)
				}
			} else {
				t.obj.Codecs = codecs(field(it, "Allow"))
				if s, ok := trunkStatus(st); known && ok {
					t.obj.Status = s
				}
			}
		case "ContactStatusDetail":
			m.contact(id, field(it, "ViaAddress"), field(it, "URI"), field(it, "UserAgent"), false)
			if t != nil {
				switch strings.ToLower(field(it, "Status")) {
				case "reachable", "avail":
					if t.obj.Status == "unmonitored" {
						t.obj.Status = "online"
					}
				case "unreachable", "unavail":
					t.obj.Status = "offline"
				}
			}
		}
	}
}

// loadChannels rebuilds the channel table from CoreShowChannel items and
// pairs ringing channels of the same call, as astproxy does.
func (m *Model) loadChannels(items []*goami2.Message) {
	byLinked := map[string][]*channel{}
	for _, it := range items {
		s := readSnap(it, "")
		c := m.channelFor(s, true)
		if c == nil {
			continue
		}
		app := field(it, "Application")
		c.inConf = app == "ConfBridge" || app == "MeetMe"
		if b := field(it, "BridgeId"); b != "" {
			m.joinBridge(c, b, strings.Contains(app, "Park"))
		} else if c.state == stRing || c.state == stRinging || c.state == stUp {
			byLinked[c.lid] = append(byLinked[c.lid], c)
		}
	}
	for _, group := range byLinked {
		if len(group) < 2 {
			continue
		}
		caller := group[0]
		for _, c := range group[1:] {
			if c.state == stRing || (caller.state != stRing && c.uidSeq < caller.uidSeq) {
				caller = c
			}
		}
		for _, c := range group {
			if c == caller {
				continue
			}
			c.dialPeer = caller.name
			if caller.dialPeer == "" {
				caller.dialPeer = c.name
			}
		}
	}
}

func (m *Model) applyQueueStatus(items []*goami2.Message) {
	for _, it := range items {
		switch field(it, "Event") {
		case "QueueParams":
			m.onQueueParams(it)
		case "QueueMember":
			m.onQueueMember(it, true)
		case "QueueEntry":
			m.onQueueEntry(it)
		}
	}
}

// reconcile heals the channel table and the queues with fresh
// CoreShowChannels and QueueStatus answers requested when the model was at
// sentSeq: objects changed by events since then are left alone.
func (m *Model) reconcile(channels, queues []*goami2.Message, sentSeq uint64) []cluster.Event {
	return m.update(func() {
		if channels != nil {
			listed := make(map[string]bool, len(channels))
			for _, it := range channels {
				s := readSnap(it, "")
				listed[s.channel] = true
				c := m.chans[s.channel]
				if c == nil {
					if c = m.channelFor(s, true); c != nil {
						if b := field(it, "BridgeId"); b != "" {
							m.joinBridge(c, b, false)
						}
						m.markPair(c)
					}
					continue
				}
				if c.touched <= sentSeq {
					m.applySnap(c, s)
				}
			}
			for name, c := range m.chans {
				if !listed[name] && c.born <= sentSeq {
					m.removeChannel(c)
				}
			}
			for uid, at := range m.gone {
				if at < sentSeq {
					delete(m.gone, uid)
				}
			}
			live := make(map[string]bool, len(m.chans))
			for _, c := range m.chans {
				live[c.lid] = true
			}
			for lid := range m.linkedQueue {
				if !live[lid] {
					delete(m.linkedQueue, lid)
				}
			}
		}
		if queues != nil {
			m.reconcileQueues(queues, sentSeq)
		}
	})
}

func (m *Model) reconcileQueues(items []*goami2.Message, sentSeq uint64) {
	members := map[string]map[string]bool{}
	entries := map[string][]*goami2.Message{}
	for _, it := range items {
		q := m.queues[field(it, "Queue")]
		if q == nil {
			continue
		}
		switch field(it, "Event") {
		case "QueueParams":
			m.onQueueParams(it)
		case "QueueMember":
			if q.touched <= sentSeq {
				m.onQueueMember(it, true)
				if members[q.obj.Queue] == nil {
					members[q.obj.Queue] = map[string]bool{}
				}
				iface := field(it, "Location")
				if iface == "" {
					iface = field(it, "Interface")
				}
				members[q.obj.Queue][memberID(iface)] = true
			}
		case "QueueEntry":
			entries[q.obj.Queue] = append(entries[q.obj.Queue], it)
		}
	}
	for id, q := range m.queues {
		if q.touched > sentSeq {
			continue
		}
		for mid, mem := range q.obj.Members {
			if mem.LoggedIn && !members[id][mid] {
				mem.LoggedIn, mem.Paused = false, false
				m.setMember(q, mem)
			}
		}
		listed := map[string]bool{}
		for _, it := range entries[id] {
			listed[field(it, "Channel")] = true
			m.onQueueEntry(it)
		}
		for ch := range q.obj.WaitingCallers {
			if !listed[ch] {
				delete(q.obj.WaitingCallers, ch)
				m.markQueue(id)
			}
		}
	}
}

// trunkEndpoint reports whether an EndpointList item that is no user's
// extension is a trunk by what the PBX tells: it authenticates outwards
// (OutboundAuths) or has an outbound registration.
func trunkEndpoint(it *goami2.Message, id string, regs []*goami2.Message) bool {
	if strings.TrimSpace(field(it, "OutboundAuths")) != "" {
		return true
	}
	for _, r := range regs {
		if field(r, "Endpoint") == id {
			return true
		}
	}
	return false
}

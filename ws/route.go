package ws

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/internal/guard"
	"github.com/ctiws/ctiws/pbx"
	"github.com/ctiws/ctiws/ws/eio"
)

// Client event names (nethcti-protocol.md §5.1).
const (
	evExtenUpdate         = "extenUpdate"
	evUserMainPresence    = "userMainPresenceUpdate"
	evUserPresence        = "userPresenceUpdate"
	evTrunkUpdate         = "trunkUpdate"
	evQueueUpdate         = "queueUpdate"
	evQueueMemberUpdate   = "queueMemberUpdate"
	evParkingUpdate       = "parkingUpdate"
	evExtenRinging        = "extenRinging"
	evExtenConnected      = "extenConnected"
	evExtenConvConnected  = "extenConvConnected"
	evExtenHangup         = "extenHangup"
	evConfBridgeUpdate    = "confBridgeUpdate"
	evConfBridgeEnd       = "confBridgeEnd"
	evMeetmeConfUpdate    = "meetmeConfUpdate"
	evMeetmeConfEnd       = "meetmeConfEnd"
	evUpdateNewVoiceMsgs  = "updateNewVoiceMessages"
	evNewVoiceMsgCounter  = "newVoiceMessageCounter"
	evServerReloaded      = "serverReloaded"
	evStreamSubscription  = "streamSubscription" // node-internal
	evQMAlarm             = "qmAlarm"
	targetSocketPrefix    = "socket:"
	targetRoomPrefix      = "room:"
	targetStreamPrefix    = "stream:"
	targetAllLoggedIn     = ""
	roomNameQManager      = "qmanager"
	objectPrefixExten     = cluster.KeyExten
	objectPrefixQueue     = cluster.KeyQueue
	objectPrefixMember    = cluster.KeyQueueMember
	objectPrefixTrunk     = cluster.KeyTrunk
	objectPrefixParking   = cluster.KeyParking
	objectPrefixConf      = cluster.KeyConf
	objectPrefixVoicemail = cluster.KeyVoicemail
	presenceOnline        = "online"
	presenceDND           = "dnd"
	presenceVoicemail     = "voicemail"
	presenceCellphone     = "cellphone"
	presenceCallforward   = "callforward"
	statusBusy            = "busy"
	statusRinging         = "ringing"
	statusOffline         = "offline"
)

// router turns a tenant's bus events into client frames for the local
// sockets. Payloads are serialised once per privacy variant, never once per
// socket. It keeps the last state of extensions and conferences, which the
// presence and conference routing rules need.
type router struct {
	h *hub

	mu       sync.Mutex
	epoch    uint64
	seq      uint64
	loaded   bool
	objects  map[string]json.RawMessage // key -> last JSON seen
	extens   map[string]*pbx.Extension
	confs    map[string]*pbx.Conference
	presence map[string]string // username -> last custom presence frame data
	// mainPresenceSent is the last userMainPresenceUpdate payload per user.
	mainPresenceSent map[string]string
	// wake lists the sockets that got frames in the current batch and
	// whose flusher must be started once the batch is routed.
	wake []*conn
	// conflated counts the frames of this batch that replaced a queued
	// frame of the same object.
	conflated int
}

func newRouter(h *hub) *router {
	return &router{
		h:        h,
		objects:  map[string]json.RawMessage{},
		extens:   map[string]*pbx.Extension{},
		confs:    map[string]*pbx.Conference{},
		presence: map[string]string{},

		mainPresenceSent: map[string]string{},
	}
}

// handle is the bus callback: the events of one tenant arrive in order, in
// batches of whatever was pending. Every frame of the batch is queued
// first; only then are the sockets' writers woken, so the frames one
// socket got from the batch (an extenUpdate and its userMainPresenceUpdate,
// or several changes under load) leave in one write.
func (r *router) handle(evs []cluster.Event) {
	for len(evs) > 0 {
		chunk := evs[:min(len(evs), maxBatchEvents)]
		evs = evs[len(chunk):]
		r.batch(func() {
			for _, ev := range chunk {
				r.handleOne(ev)
			}
		})
	}
}

// maxBatchEvents bounds the events routed before the writers are woken: a
// backlog of thousands of events must not hold every frame back until the
// last one is routed.
const maxBatchEvents = 64

// batch runs route with r.mu held, then wakes the writers of every socket
// that got frames.
func (r *router) batch(route func()) {
	r.mu.Lock()
	route()
	wake, conflated := r.wake, r.conflated
	r.wake, r.conflated = nil, 0
	r.mu.Unlock()
	for _, c := range wake {
		c.sock.wake()
	}
	if conflated > 0 {
		r.h.srv.metrics.Conflated.WithLabelValues(r.h.tenant.ID).Add(float64(conflated))
	}
}

// broadcast sends a frame to every logged-in local socket now (outside a
// bus batch, e.g. after a reload).
func (r *router) broadcast(frame []byte, name string) {
	r.batch(func() { r.toAll(frame, name, "") })
}

// queue adds a frame to a socket's queue within a batch; key ("" for
// none) lets a newer state of the same object replace it while unsent.
func (r *router) queue(c *conn, frame []byte, key string) {
	if c.closed.Load() {
		return
	}
	if r.h.srv.opts.DeliverEveryState {
		key = ""
	}
	wake, replaced, err := c.sock.queue(opText, frame, key)
	switch {
	case errors.Is(err, errQueueFull):
		c.srv.slowConsumer(c)
	case wake:
		r.wake = append(r.wake, c)
	case replaced:
		r.conflated++
	}
}

// handleOne routes one event; r.mu is held.
func (r *router) handleOne(ev cluster.Event) {
	start := time.Now()
	m := r.h.srv.metrics
	t := r.h.tenant.ID
	m.EventsReceived.WithLabelValues(t, ev.Name).Inc()
	if ev.Time > 0 {
		m.BusLag.Observe(time.Since(time.Unix(0, ev.Time)).Seconds())
	}
	// A panic while routing drops this event only: it is logged and
	// counted, and the next event reloads the state (the caches may be
	// half updated). Other tenants have routers of their own. r.mu is
	// held by batch, which goes on with the next event.
	defer r.h.srv.panics.Recover(guard.Router, t, func(error) {
		r.loaded = false
	})
	if hook := r.h.srv.opts.hooks.route; hook != nil {
		hook(t, ev)
	}
	if !r.loaded {
		r.loadLocked(false)
	}
	switch {
	case ev.Name == cluster.EvResync && ev.Seq == 0:
		// From the bus: events may have been lost; re-read the state.
		r.loadLocked(true)
	case ev.Epoch == 0:
		r.nodeEvent(ev)
	default:
		if ev.Epoch < r.epoch {
			return // a former owner: fenced out
		}
		if ev.Seq <= r.seq {
			// Older than the state loaded last: an object event is
			// already applied (seq is per tenant, across epochs), but a
			// notification (ringing, hangup…) is not in the state.
			if ev.Key == "" {
				r.pbxEvent(ev)
			}
			return
		}
		if r.seq != 0 && ev.Seq != r.seq+1 {
			m.Resyncs.WithLabelValues(t).Inc()
			r.h.srv.log.Warn("event sequence gap: resyncing from state", "tenant", t, "want", r.seq+1, "got", ev.Seq)
			r.loadLocked(true)
			if ev.Seq <= r.seq {
				return
			}
		}
		r.epoch, r.seq = ev.Epoch, ev.Seq
		if ev.Key != "" && !ev.Del && string(r.objects[ev.Key]) == string(ev.Data) {
			// Unchanged object (e.g. a new owner re-publishing its whole
			// snapshot): clients already have it.
			m.UnchangedSkipped.WithLabelValues(t).Inc()
			break
		}
		r.pbxEvent(ev)
	}
	m.FanoutDuration.Observe(time.Since(start).Seconds())
}

// load reads the state once the subscription is in place.
func (r *router) load() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.loaded {
		r.loadLocked(false)
	}
}

// loadLocked reads the tenant's object state from the bus. With emit, every
// object that differs from what this node had is routed again, so clients
// get the updates a gap or an outage made the node miss.
func (r *router) loadLocked(emit bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	objs, seq, err := r.h.srv.backend.Bus.State(ctx, r.h.tenant.ID, "")
	if err != nil {
		r.h.srv.log.Warn("state load failed; will retry on the next event", "tenant", r.h.tenant.ID, "err", err)
		return
	}
	if emit {
		r.h.srv.metrics.Resyncs.WithLabelValues(r.h.tenant.ID).Inc()
	}
	seen := make(map[string]bool, len(objs))
	changed := 0
	for _, o := range objs {
		seen[o.Key] = true
		if old, ok := r.objects[o.Key]; ok && string(old) == string(o.Data) {
			continue
		}
		changed++
		ev := cluster.Event{Tenant: r.h.tenant.ID, Key: o.Key, Data: o.Data, Name: nameForKey(o.Key)}
		if emit && ev.Name != "" {
			r.pbxEvent(ev)
		} else {
			r.remember(ev)
		}
	}
	for key := range r.objects {
		if seen[key] {
			continue
		}
		changed++
		if emit && strings.HasPrefix(key, objectPrefixConf) {
			id := strings.TrimPrefix(key, objectPrefixConf)
			data, _ := json.Marshal(map[string]string{"id": id})
			r.pbxEvent(cluster.Event{Tenant: r.h.tenant.ID, Key: key, Del: true, Name: cluster.EvConfBridgeConfEnd, Data: data})
			continue
		}
		r.forget(key)
	}
	if emit {
		r.h.srv.log.Info("resynced from state", "tenant", r.h.tenant.ID, "objects", len(objs), "changed", changed)
	}
	// The state's sequence number is the new base. The epoch is unknown
	// after a load (Redis may even have lost its counters); the fence in
	// the bus keeps former owners out.
	r.seq, r.epoch = seq, 0
	r.loaded = true
}

// nameForKey maps a state key to the owner event that carries it.
func nameForKey(key string) string {
	switch {
	case strings.HasPrefix(key, objectPrefixExten):
		return cluster.EvExtenChanged
	case strings.HasPrefix(key, objectPrefixMember):
		return cluster.EvQueueMemberChanged
	case strings.HasPrefix(key, objectPrefixQueue):
		return cluster.EvQueueChanged
	case strings.HasPrefix(key, objectPrefixTrunk):
		return cluster.EvTrunkChanged
	case strings.HasPrefix(key, objectPrefixParking):
		return cluster.EvParkingChanged
	case strings.HasPrefix(key, objectPrefixConf):
		return cluster.EvConfBridgeConfChanged
	case strings.HasPrefix(key, objectPrefixVoicemail):
		return cluster.EvVoicemailChanged
	}
	return ""
}

// remember updates the caches from a keyed event without routing it.
func (r *router) remember(ev cluster.Event) {
	if ev.Key == "" {
		return
	}
	if ev.Del {
		r.forget(ev.Key)
		return
	}
	switch {
	case strings.HasPrefix(ev.Key, objectPrefixExten):
		_, _ = r.rememberExten(ev)
	case strings.HasPrefix(ev.Key, objectPrefixConf):
		_, _ = r.rememberConf(ev)
	default:
		r.objects[ev.Key] = ev.Data
	}
}

// rememberExten decodes an extension once and caches it.
func (r *router) rememberExten(ev cluster.Event) (*pbx.Extension, error) {
	var e pbx.Extension
	if err := json.Unmarshal(ev.Data, &e); err != nil {
		return nil, err
	}
	r.objects[ev.Key] = ev.Data
	r.extens[e.Exten] = &e
	return &e, nil
}

// rememberConf decodes a conference once and caches it.
func (r *router) rememberConf(ev cluster.Event) (*pbx.Conference, error) {
	var c pbx.Conference
	if err := json.Unmarshal(ev.Data, &c); err != nil {
		return nil, err
	}
	r.objects[ev.Key] = ev.Data
	r.confs[c.ID] = &c
	return &c, nil
}

func (r *router) forget(key string) {
	delete(r.objects, key)
	switch {
	case strings.HasPrefix(key, objectPrefixExten):
		delete(r.extens, strings.TrimPrefix(key, objectPrefixExten))
	case strings.HasPrefix(key, objectPrefixConf):
		delete(r.confs, strings.TrimPrefix(key, objectPrefixConf))
	}
}

// variantCache builds each privacy variant of a payload at most once.
type variantCache struct {
	name   string
	frames map[string][]byte
	build  func(variant string) ([]byte, error)
	srv    *Server
}

func (v *variantCache) get(variant string) []byte {
	if f, ok := v.frames[variant]; ok {
		return f
	}
	payload, err := v.build(variant)
	if err != nil {
		v.srv.log.Warn("payload serialisation failed", "event", v.name, "err", err)
		v.frames[variant] = nil
		return nil
	}
	v.srv.metrics.Serialisations.WithLabelValues(v.name).Inc()
	f := eio.Event(v.name, payload)
	v.frames[variant] = f
	return f
}

func (r *router) variants(name string, build func(variant string) ([]byte, error)) *variantCache {
	return &variantCache{name: name, frames: make(map[string][]byte, 3), build: build, srv: r.h.srv}
}

// Privacy variants.
const (
	variantClear      = "clear"
	variantMasked     = "masked"
	variantMaskedOutQ = "masked-out-of-queue"
)

// pbxEvent routes one owner event (§5, §6).
func (r *router) pbxEvent(ev cluster.Event) {
	cfg := r.h.tenant.Config()
	priv := cfg.Privacy
	switch ev.Name {
	case cluster.EvExtenChanged:
		e, err := r.rememberExten(ev)
		if err != nil {
			r.bad(ev, err)
			return
		}
		r.routeExtension(cfg, e, ev.Data)
	case cluster.EvQueueChanged:
		r.remember(ev)
		r.routeRooms(evQueueUpdate, ev.Key, roomQueuesClear, roomQueuesPrivacy, ev.Data, priv, func(string) ([]byte, error) {
			return maskedObject(objectPrefixQueue, ev.Data, priv)
		})
	case cluster.EvQueueMemberChanged:
		r.remember(ev)
		r.routeRooms(evQueueMemberUpdate, ev.Key, roomQueuesClear, roomQueuesPrivacy, ev.Data, "", nil)
	case cluster.EvTrunkChanged:
		r.remember(ev)
		r.routeRooms(evTrunkUpdate, ev.Key, roomTrunksClear, roomTrunksPrivacy, ev.Data, priv, func(string) ([]byte, error) {
			return maskedObject(objectPrefixTrunk, ev.Data, priv)
		})
	case cluster.EvParkingChanged:
		r.remember(ev)
		r.routeRooms(evParkingUpdate, ev.Key, roomParkingsClear, roomParkingsPrivacy, ev.Data, priv, func(string) ([]byte, error) {
			return maskedObject(objectPrefixParking, ev.Data, priv)
		})
	case cluster.EvExtenDialing:
		r.routeDialing(cfg, ev)
	case cluster.EvExtenConnected:
		r.routeConnected(cfg, ev)
	case cluster.EvExtenHangup:
		var h struct {
			ChannelExten string `json:"channelExten"`
		}
		if err := json.Unmarshal(ev.Data, &h); err != nil || h.ChannelExten == "" {
			r.bad(ev, err)
			return
		}
		r.toUsers(r.ownersOf(cfg, h.ChannelExten), eio.Event(evExtenHangup, ev.Data), evExtenHangup, "")
	case cluster.EvConfBridgeConfChanged:
		prev := r.confs[strings.TrimPrefix(ev.Key, objectPrefixConf)]
		c, err := r.rememberConf(ev)
		if err != nil {
			r.bad(ev, err)
			return
		}
		users := r.confUsers(cfg, c, prev)
		r.toUsers(users, eio.Event(evConfBridgeUpdate, ev.Data), evConfBridgeUpdate, evConfBridgeUpdate+"|"+ev.Key)
		r.toUsers(users, eio.Event(evMeetmeConfUpdate, ev.Data), evMeetmeConfUpdate, evMeetmeConfUpdate+"|"+ev.Key)
	case cluster.EvConfBridgeConfEnd:
		id := strings.TrimPrefix(ev.Key, objectPrefixConf)
		prev := r.confs[id]
		r.forget(ev.Key)
		users := r.confUsers(cfg, &pbx.Conference{ID: id}, prev)
		data, _ := json.Marshal(map[string]string{"id": id})
		r.toUsers(users, eio.Event(evConfBridgeEnd, data), evConfBridgeEnd, "")
		r.toUsers(users, eio.Event(evMeetmeConfEnd, data), evMeetmeConfEnd, "")
	case cluster.EvVoicemailChanged:
		r.remember(ev)
		r.routeVoicemail(cfg, ev)
	case cluster.EvResync:
		// The owner rebuilt its model; the objects that changed came as
		// their own events.
	default:
		r.h.srv.metrics.BadFrames.WithLabelValues(r.h.tenant.ID, "unknown_bus_event").Inc()
	}
}

func (r *router) bad(ev cluster.Event, err error) {
	r.h.srv.metrics.BadFrames.WithLabelValues(r.h.tenant.ID, "bad_bus_event").Inc()
	r.h.srv.badLog.Warn("bad_bus_event", "undecodable bus event dropped", "tenant", r.h.tenant.ID, "event", ev.Name, "err", err)
}

// routeExtension sends extenUpdate to every logged-in socket with the
// privacy decision of §4.6, then the owner's main presence (and presence,
// when it changed) to everybody.
func (r *router) routeExtension(cfg *TenantConfig, e *pbx.Extension, clear json.RawMessage) {
	priv := cfg.Privacy
	vc := r.variants(evExtenUpdate, func(variant string) ([]byte, error) {
		return extensionJSON(e, clear, variant, priv)
	})
	h := r.h
	n := 0
	xkey := evExtenUpdate + "|" + e.Exten
	h.each(func(c *conn, l *login) {
		if f := vc.get(extensionVariant(l.user, e.Exten, priv)); f != nil {
			r.queue(c, f, xkey)
			n++
		}
	})
	h.srv.metrics.EventsDelivered.WithLabelValues(h.tenant.ID, evExtenUpdate).Add(float64(n))

	owner, ok := cfg.Directory.OwnerOf(e.Exten)
	if !ok {
		return
	}
	status, to := r.mainPresence(owner)
	key := strings.ToLower(owner.Username)
	main := presencePayload("mainPresence", owner.Username, status, to)
	if r.mainPresenceSent[key] != string(main) {
		// Only a change is news (the original repeated it after every
		// extenUpdate; see docs/compatibility.md).
		r.mainPresenceSent[key] = string(main)
		r.toAll(eio.Event(evUserMainPresence, main), evUserMainPresence, evUserMainPresence+"|"+key)
	}
	if owner.MainExtension == e.Exten {
		p, pto := customPresence(owner, e)
		data := presencePayload("presence", owner.Username, p, pto)
		if r.presence[key] != string(data) {
			first := r.presence[key] == ""
			r.presence[key] = string(data)
			if !first {
				r.toAll(eio.Event(evUserPresence, data), evUserPresence, evUserPresence+"|"+key)
			}
		}
	}
}

// presencePayload builds {"<kind>":{"username","status"[,"to"]}}.
func presencePayload(kind, username, status, to string) []byte {
	inner := struct {
		Username string `json:"username"`
		Status   string `json:"status"`
		To       string `json:"to,omitempty"`
	}{username, status, to}
	b, _ := json.Marshal(map[string]any{kind: inner})
	return b
}

// customPresence derives the user's chosen presence from the DND and
// call-forward state of the main extension (§5.3).
func customPresence(u *directory.User, main *pbx.Extension) (status, to string) {
	switch {
	case main == nil:
		return presenceOnline, ""
	case main.DND:
		return presenceDND, ""
	case main.CFVm != "":
		return presenceVoicemail, ""
	case main.CF != "" && u.Cellphone != "" && main.CF == u.Cellphone:
		return presenceCellphone, ""
	case main.CF != "":
		return presenceCallforward, main.CF
	}
	return presenceOnline, ""
}

// mainPresence aggregates a user's presence (§5.3): a chosen presence wins,
// otherwise the states of all the user's extensions.
func (r *router) mainPresence(u *directory.User) (status, to string) {
	return aggregatePresence(u, r.extens)
}

// aggregatePresence is mainPresence over any map of extension states.
func aggregatePresence(u *directory.User, extens map[string]*pbx.Extension) (status, to string) {
	p, to := customPresence(u, extens[u.MainExtension])
	if p != presenceOnline {
		return p, to
	}
	has := map[string]bool{}
	for id := range u.Extensions {
		if e := extens[id]; e != nil {
			has[e.Status] = true
		}
	}
	switch {
	case has["busy"], has["busy_ringing"]:
		return statusBusy, ""
	case has["ringing"]:
		return statusRinging, ""
	case has["onhold"]:
		return statusBusy, ""
	case has["online"]:
		return presenceOnline, ""
	}
	return statusOffline, ""
}

// routeRooms sends a room event: clear to the clear room, the masked
// variant to the privacy room (identical when build is nil or priv empty).
func (r *router) routeRooms(name, objKey string, clearRoom, privRoom rooms, clear json.RawMessage, priv string, build func(string) ([]byte, error)) {
	vc := r.variants(name, func(variant string) ([]byte, error) {
		if variant == variantMasked && build != nil && priv != "" {
			return build(variant)
		}
		return clear, nil
	})
	h := r.h
	n := 0
	h.each(func(c *conn, l *login) {
		var f []byte
		switch {
		case l.rooms&clearRoom != 0:
			f = vc.get(variantClear)
		case l.rooms&privRoom != 0:
			f = vc.get(variantMasked)
		default:
			return
		}
		if f != nil {
			r.queue(c, f, name+"|"+objKey)
			n++
		}
	})
	h.srv.metrics.EventsDelivered.WithLabelValues(h.tenant.ID, name).Add(float64(n))
}

// ownersOf returns the (lower-cased) user owning ext, if any.
func (r *router) ownersOf(cfg *TenantConfig, ext string) []string {
	if u, ok := cfg.Directory.OwnerOf(ext); ok {
		return []string{strings.ToLower(u.Username)}
	}
	return nil
}

// toUsers sends frame to every local socket of the given users; key as
// for queue.
func (r *router) toUsers(users []string, frame []byte, name, key string) {
	n := 0
	for _, u := range users {
		for _, c := range r.h.userConns(u) {
			r.queue(c, frame, key)
			n++
		}
	}
	r.h.srv.metrics.EventsDelivered.WithLabelValues(r.h.tenant.ID, name).Add(float64(n))
}

// toUsersDroppable sends a relayed frame to every local socket of a user,
// but never fills a receiver's queue past half: a flood of relays is
// dropped and counted at the receiver, it never disconnects it as a slow
// consumer.
func (r *router) toUsersDroppable(user string, frame []byte, name string) {
	n := 0
	for _, c := range r.h.userConns(user) {
		if c.sendDroppable(frame) {
			n++
		} else {
			r.h.srv.metrics.LimitRejects.WithLabelValues(r.h.tenant.ID, limitRelayReceiver).Inc()
		}
	}
	r.h.srv.metrics.EventsDelivered.WithLabelValues(r.h.tenant.ID, name).Add(float64(n))
}

// toAll sends frame to every logged-in local socket; key as for queue.
func (r *router) toAll(frame []byte, name, key string) {
	h := r.h
	n := 0
	h.each(func(c *conn, _ *login) {
		r.queue(c, frame, key)
		n++
	})
	h.srv.metrics.EventsDelivered.WithLabelValues(h.tenant.ID, name).Add(float64(n))
}

// toRoom sends frame to the local sockets in room.
func (r *router) toRoom(room rooms, frame []byte, name string) {
	h := r.h
	n := 0
	h.each(func(c *conn, l *login) {
		if l.rooms&room != 0 {
			r.queue(c, frame, "")
			n++
		}
	})
	h.srv.metrics.EventsDelivered.WithLabelValues(h.tenant.ID, name).Add(float64(n))
}

// routeDialing sends extenRinging to the user owning the dialled extension.
func (r *router) routeDialing(cfg *TenantConfig, ev cluster.Event) {
	var d struct {
		DialingExten   string `json:"dialingExten"`
		CallerHasConf  bool   `json:"callerHasConf"`
		CallerIdentity struct {
			NumCalled  string `json:"numCalled"`
			CallerNum  string `json:"callerNum"`
			CallerName string `json:"callerName"`
		} `json:"callerIdentity"`
	}
	if err := json.Unmarshal(ev.Data, &d); err != nil || d.DialingExten == "" {
		r.bad(ev, err)
		return
	}
	payload, _ := json.Marshal(struct {
		NumCalled     string `json:"numCalled"`
		CallerNum     string `json:"callerNum"`
		CallerName    string `json:"callerName"`
		CallerHasConf bool   `json:"callerHasConf"`
	}{d.CallerIdentity.NumCalled, d.CallerIdentity.CallerNum, d.CallerIdentity.CallerName, d.CallerHasConf})
	r.toUsers(r.ownersOf(cfg, d.DialingExten), eio.Event(evExtenRinging, payload), evExtenRinging, "")
}

// routeConnected sends extenConnected and extenConvConnected to the owner of
// num1 (§6.2).
func (r *router) routeConnected(cfg *TenantConfig, ev cluster.Event) {
	var d struct {
		Num1 string `json:"num1"`
		Num2 string `json:"num2"`
	}
	if err := json.Unmarshal(ev.Data, &d); err != nil || d.Num1 == "" {
		r.bad(ev, err)
		return
	}
	users := r.ownersOf(cfg, d.Num1)
	first, _ := json.Marshal(map[string]string{"extenConnected": d.Num1})
	r.toUsers(users, eio.Event(evExtenConnected, first), evExtenConnected, "")
	r.toUsers(users, eio.Event(evExtenConvConnected, ev.Data), evExtenConvConnected, "")
}

// confUsers returns each user owning the conference id or a participant's
// extension once (the original sent duplicates).
func (r *router) confUsers(cfg *TenantConfig, c, prev *pbx.Conference) []string {
	seen := map[string]bool{}
	var out []string
	add := func(ext string) {
		for _, u := range r.ownersOf(cfg, ext) {
			if !seen[u] {
				seen[u] = true
				out = append(out, u)
			}
		}
	}
	add(c.ID)
	for _, confs := range []*pbx.Conference{c, prev} {
		if confs == nil {
			continue
		}
		for _, u := range confs.Users {
			add(u.ExtenID)
		}
	}
	return out
}

// routeVoicemail sends updateNewVoiceMessages and newVoiceMessageCounter to
// the owners of the box only (the original broadcast the counter).
func (r *router) routeVoicemail(cfg *TenantConfig, ev cluster.Event) {
	var v struct {
		Voicemail string `json:"voicemail"`
		New       string `json:"new"`
		Old       string `json:"old"`
	}
	if err := json.Unmarshal(ev.Data, &v); err != nil || v.Voicemail == "" {
		r.bad(ev, err)
		return
	}
	var users []string
	for _, u := range cfg.Directory.VoicemailOwners(v.Voicemail) {
		users = append(users, strings.ToLower(u.Username))
	}
	upd, _ := json.Marshal(map[string]map[string]string{v.Voicemail: {"inbox": v.New, "old": v.Old}})
	cnt, _ := json.Marshal(map[string]string{"voicemail": v.Voicemail, "counter": v.New})
	r.toUsers(users, eio.Event(evUpdateNewVoiceMsgs, upd), evUpdateNewVoiceMsgs, evUpdateNewVoiceMsgs+"|"+ev.Key)
	r.toUsers(users, eio.Event(evNewVoiceMsgCounter, cnt), evNewVoiceMsgCounter, evNewVoiceMsgCounter+"|"+ev.Key)
}

// nodeEvent routes an unfenced event published by a node: Data is the JSON
// array of the client event's arguments, Target selects the recipients.
func (r *router) nodeEvent(ev cluster.Event) {
	switch ev.Name {
	case evTakeOver:
		r.h.deliverToSocket(strings.TrimPrefix(ev.Target, targetSocketPrefix), takeOver)
		return
	case evMessage:
		r.toUsersDroppable(ev.Target, eio.Event(evMessage, ev.Data), evMessage)
		return
	case evStreamSubscription:
		r.streamSubscription(ev)
		return
	}
	frame, err := nodeFrame(ev)
	if err != nil {
		r.bad(ev, err)
		return
	}
	switch {
	case strings.HasPrefix(ev.Target, targetSocketPrefix):
		r.h.deliverToSocket(strings.TrimPrefix(ev.Target, targetSocketPrefix), frame)
	case ev.Target == targetRoomPrefix+roomNameQManager:
		r.toRoom(roomQManager, frame, ev.Name)
	case strings.HasPrefix(ev.Target, targetStreamPrefix):
		r.toStream(strings.TrimPrefix(ev.Target, targetStreamPrefix), frame, ev.Name)
	case ev.Target == targetAllLoggedIn:
		r.toAll(frame, ev.Name, "")
	default:
		r.toUsers([]string{ev.Target}, frame, ev.Name, "")
	}
}

// nodeFrame encodes a node event whose Data is an argument array.
func nodeFrame(ev cluster.Event) ([]byte, error) {
	if len(ev.Data) == 0 {
		return eio.Event(ev.Name), nil
	}
	var args []json.RawMessage
	if err := json.Unmarshal(ev.Data, &args); err != nil {
		return nil, err
	}
	raw := make([][]byte, len(args))
	for i, a := range args {
		raw[i] = a
	}
	return eio.Event(ev.Name, raw...), nil
}

// streamSubscription makes every local socket of a user join or leave a
// streaming source: Data is {"id":"…","subscribe":true|false}.
func (r *router) streamSubscription(ev cluster.Event) {
	var s struct {
		ID        string `json:"id"`
		Subscribe bool   `json:"subscribe"`
	}
	if err := json.Unmarshal(ev.Data, &s); err != nil || s.ID == "" {
		r.bad(ev, err)
		return
	}
	id := strings.ToLower(s.ID)
	for _, c := range r.h.userConns(ev.Target) {
		c.mu.Lock()
		if s.Subscribe {
			if c.streams == nil {
				c.streams = map[string]bool{}
			}
			c.streams[id] = true
		} else {
			delete(c.streams, id)
		}
		c.mu.Unlock()
	}
}

// toStream sends frame once to every local socket subscribed to a source.
func (r *router) toStream(id string, frame []byte, name string) {
	id = strings.ToLower(id)
	h := r.h
	var targets []*conn
	h.each(func(c *conn, _ *login) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.streams[id] {
			targets = append(targets, c)
		}
	})
	for _, c := range targets {
		r.queue(c, frame, name+"|"+id)
	}
	h.srv.metrics.EventsDelivered.WithLabelValues(h.tenant.ID, name).Add(float64(len(targets)))
}

package ws

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/pbx"
	"github.com/ctiws/ctiws/ws/eio"
)

// pbxEvent routes one owner event (docs/protocol.md, section 4); r.mu is held.
func (r *router) pbxEvent(ev cluster.Event) {
	cfg := r.tenant.Config()
	priv := cfg.Privacy
	switch ev.Name {
	case pbx.EvExtenChanged:
		e, err := r.state.rememberExten(ev)
		if err != nil {
			r.bad(ev, err)
			return
		}
		r.routeExtension(cfg, e, ev.Data)
	case pbx.EvQueueChanged, pbx.EvQueueMemberChanged, pbx.EvTrunkChanged, pbx.EvParkingChanged:
		r.state.remember(ev)
		r.routeRooms(roomEventOf(ev.Name), ev, priv)
	case pbx.EvExtenDialing:
		r.routeDialing(cfg, ev)
	case pbx.EvExtenConnected:
		r.routeConnected(cfg, ev)
	case pbx.EvExtenHangup:
		var h pbx.ExtenHangup
		if err := json.Unmarshal(ev.Data, &h); err != nil || h.ChannelExten == "" {
			r.bad(ev, err)
			return
		}
		r.toUsers(r.ownersOf(cfg, h.ChannelExten), eio.Event(evExtenHangup, ev.Data), evExtenHangup, "")
	case pbx.EvConfBridgeConfChanged:
		prev := r.state.confs[strings.TrimPrefix(ev.Key, objectPrefixConf)]
		c, err := r.state.rememberConf(ev)
		if err != nil {
			r.bad(ev, err)
			return
		}
		users := r.confUsers(cfg, c, prev)
		r.state.addConfAudience(c.ID, users)
		r.toUsers(users, eio.Event(evConfBridgeUpdate, ev.Data), evConfBridgeUpdate, evConfBridgeUpdate+"|"+ev.Key)
		r.toUsers(users, eio.Event(evMeetmeConfUpdate, ev.Data), evMeetmeConfUpdate, evMeetmeConfUpdate+"|"+ev.Key)
	case pbx.EvConfBridgeConfEnd:
		// The end goes to the owner and to every user that was sent the
		// conference's updates: Asterisk ends a conference after its last
		// participant left, so the last update had no one in it.
		id := strings.TrimPrefix(ev.Key, objectPrefixConf)
		prev := r.state.confs[id]
		users := r.confUsers(cfg, &pbx.Conference{ID: id}, prev)
		for _, u := range r.state.confAudience[id] {
			if !slices.Contains(users, u) {
				users = append(users, u)
			}
		}
		r.state.forget(ev.Key)
		data := pbx.ConfEndJSON(id)
		r.toUsers(users, eio.Event(evConfBridgeEnd, data), evConfBridgeEnd, "")
		r.toUsers(users, eio.Event(evMeetmeConfEnd, data), evMeetmeConfEnd, "")
	case pbx.EvVoicemailChanged:
		r.state.remember(ev)
		r.routeVoicemail(cfg, ev)
	case cluster.EvResync:
		// The owner rebuilt its model; the objects that changed came as
		// their own events.
	default:
		r.metrics.BadFrames.WithLabelValues(r.tenant.ID, "unknown_bus_event").Inc()
	}
}

// routeExtension sends extenUpdate to every logged-in socket with the
// privacy decision of docs/protocol.md, section 3.3, then the owner's presence changes.
func (r *router) routeExtension(cfg *TenantConfig, e *pbx.Extension, clear json.RawMessage) {
	priv := cfg.Privacy
	vc := r.variants(evExtenUpdate, func(variant string) ([]byte, error) {
		return extensionJSON(e, clear, variant, priv)
	})
	owner, _ := cfg.Directory.OwnerOf(e.Exten)
	bit := extBit(e.Exten)
	r.fanout(r.all(), evExtenUpdate, evExtenUpdate+"|"+e.Exten, func(m *member) []byte {
		return vc.get(extenVariant(m, owner, bit, e.Exten, priv))
	})
	r.routePresence(cfg, e)
}

// roomEvent is how the change of a room object (queue, queue member,
// trunk, parking) is routed: its client event, its clear and privacy
// rooms, and the key prefix of its masked variant ("" for none).
type roomEvent struct {
	name        string
	clear, priv rooms
	maskPrefix  string
}

// roomEventOf returns the routing of an owner event of a room object.
func roomEventOf(ownerEvent string) roomEvent {
	switch ownerEvent {
	case pbx.EvQueueChanged:
		return roomEvent{evQueueUpdate, roomQueuesClear, roomQueuesPrivacy, objectPrefixQueue}
	case pbx.EvQueueMemberChanged:
		return roomEvent{evQueueMemberUpdate, roomQueuesClear, roomQueuesPrivacy, ""}
	case pbx.EvTrunkChanged:
		return roomEvent{evTrunkUpdate, roomTrunksClear, roomTrunksPrivacy, objectPrefixTrunk}
	default:
		return roomEvent{evParkingUpdate, roomParkingsClear, roomParkingsPrivacy, objectPrefixParking}
	}
}

// routeRooms sends a room event: clear to the clear room, the masked
// variant to the privacy room (identical without a mask or privacy
// string).
func (r *router) routeRooms(re roomEvent, ev cluster.Event, priv string) {
	vc := r.variants(re.name, func(variant string) ([]byte, error) {
		if variant == variantMasked && re.maskPrefix != "" && priv != "" {
			return maskedObject(re.maskPrefix, ev.Data, priv)
		}
		return ev.Data, nil
	})
	r.fanout(r.all(), re.name, re.name+"|"+ev.Key, func(m *member) []byte {
		switch {
		case m.l.rooms&re.clear != 0:
			return vc.get(vClear)
		case m.l.rooms&re.priv != 0:
			return vc.get(vMasked)
		}
		return nil
	})
}

// ownersOf returns the (lower-cased) user owning ext, if any.
func (r *router) ownersOf(cfg *TenantConfig, ext string) []string {
	if u, ok := cfg.Directory.OwnerOf(ext); ok {
		return []string{strings.ToLower(u.Username)}
	}
	return nil
}

// routeDialing sends extenRinging to the user owning the dialled extension.
func (r *router) routeDialing(cfg *TenantConfig, ev cluster.Event) {
	var d pbx.ExtenDialing
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
// num1 (docs/protocol.md, section 4.3).
func (r *router) routeConnected(cfg *TenantConfig, ev cluster.Event) {
	var d pbx.ExtenConnected
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
	var v pbx.Voicemail
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

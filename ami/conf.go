package ami

import (
	"strings"

	"github.com/ctiws/ctiws/pbx"
	"github.com/staskobzar/goami2"
)

// confID maps a ConfBridge room name to the conference id (the owner
// extension): the room without the configured prefix.
func (m *Model) confID(room string) string {
	if p := m.objs.confPrefix(); p != "" {
		if id, ok := strings.CutPrefix(room, p); ok && id != "" {
			return id
		}
	}
	return room
}

func yes(s string) bool {
	switch strings.ToLower(s) {
	case "yes", "true", "1", "on":
		return true
	}
	return false
}

// onConfJoin applies ConfbridgeJoin and the ConfbridgeList items.
func (m *Model) onConfJoin(msg *goami2.Message) {
	id := m.confID(field(msg, "Conference"))
	num := field(msg, "CallerIDNum")
	ch := field(msg, "Channel")
	if id == "" || num == "" {
		m.skip("missing_field", "event", "ConfbridgeJoin")
		return
	}
	conf := m.confs[id]
	if conf == nil {
		conf = &pbx.Conference{ID: id, Users: pbx.Map[pbx.ConfUser]{}}
		m.confs[id] = conf
	}
	name := m.extName(num)
	if name == "" {
		name = callerName(field(msg, "CallerIDName"))
	}
	conf.Users[num] = pbx.ConfUser{
		ID: id + "-" + num, Name: name, Owner: num == id, Muted: yes(field(msg, "Muted")),
		ExtenID: num, Channel: ch,
	}
	m.mark(okey{k: pbx.KindConf, id: id})
	if c := m.chans[ch]; c != nil && (!c.inConf || c.confRoom == "") {
		c.inConf = true
		c.confRoom = field(msg, "Conference")
		m.markPair(c)
	}
}

func (m *Model) onConfLeave(msg *goami2.Message) {
	id := m.confID(field(msg, "Conference"))
	ch := field(msg, "Channel")
	if conf := m.confs[id]; conf != nil {
		for k, u := range conf.Users {
			if u.Channel == ch || (ch == "" && k == field(msg, "CallerIDNum")) {
				delete(conf.Users, k)
				m.mark(okey{k: pbx.KindConf, id: id})
			}
		}
	}
	if c := m.chans[ch]; c != nil && c.inConf {
		c.inConf = false
		m.markPair(c)
	}
}

func (m *Model) onConfEnd(msg *goami2.Message) {
	id := m.confID(field(msg, "Conference"))
	if _, ok := m.confs[id]; ok {
		delete(m.confs, id)
		m.mark(okey{k: pbx.KindConf, id: id})
	}
}

func (m *Model) onConfMute(msg *goami2.Message, muted bool) {
	id := m.confID(field(msg, "Conference"))
	conf := m.confs[id]
	if conf == nil {
		return
	}
	ch := field(msg, "Channel")
	for k, u := range conf.Users {
		if u.Channel == ch && u.Muted != muted {
			u.Muted = muted
			conf.Users[k] = u
			m.mark(okey{k: pbx.KindConf, id: id})
		}
	}
}

// onMessageWaiting applies a voicemail counter change.
func (m *Model) onMessageWaiting(msg *goami2.Message) {
	box, _, _ := strings.Cut(field(msg, "Mailbox"), "@")
	newMsgs := field(msg, "New")
	if box == "" || newMsgs == "" {
		m.skip("missing_field", "event", "MessageWaiting")
		return
	}
	m.setVoicemail(box, newMsgs, field(msg, "Old"))
}

func (m *Model) setVoicemail(box, newMsgs, old string) {
	if len(m.dir.VoicemailOwners(box)) == 0 {
		m.skip("unknown_voicemail", "voicemail", box)
		return
	}
	v := m.vms[box]
	if v == nil {
		box = keep(box)
		v = &pbx.Voicemail{Voicemail: box}
		m.vms[box] = v
	}
	v.New, v.Old = intern(newMsgs), intern(old)
	m.mark(okey{k: pbx.KindVoicemail, id: box})
}

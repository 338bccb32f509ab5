package ami

import (
	"strconv"
	"strings"

	"github.com/ctiws/ctiws/pbx"
	"github.com/staskobzar/goami2"
)

// addLot creates the parking spaces of a lot.
func (m *Model) addLot(l lot) {
	if l.start <= 0 || l.stop < l.start || l.stop-l.start > 1000 {
		m.skip("bad_parking_lot", "lot", l.name)
		return
	}
	m.lots[l.name] = l
	for s := l.start; s <= l.stop; s++ {
		id := strconv.Itoa(s)
		m.parkings[id] = &pbx.Parking{Name: id, Parking: id, Timeout: l.timeout}
	}
}

// onParkinglot applies a Parkinglot item of the Parkinglots action.
func (m *Model) onParkinglot(msg *goami2.Message) {
	name := field(msg, "Name")
	l := lot{name: name}
	l.start, _ = strconv.Atoi(field(msg, "StartSpace"))
	l.stop, _ = strconv.Atoi(field(msg, "StopSpace"))
	l.timeout, _ = strconv.Atoi(field(msg, "Timeout"))
	if m.objs != nil && len(m.objs.Parkings) > 0 {
		cfg, ok := m.objs.Parkings[name]
		if !ok {
			m.skip("unknown_parking_lot", "lot", name)
			return
		}
		if l.start == 0 {
			l.start, l.stop = cfg.Start, cfg.Stop
		}
		if l.timeout == 0 {
			l.timeout = cfg.Timeout
		}
	}
	m.addLot(l)
}

// onParkedCall applies ParkedCall and ParkedCallSwap (live and as items of
// the ParkedCalls action).
func (m *Model) onParkedCall(msg *goami2.Message) {
	space := field(msg, "ParkingSpace")
	p := m.parkings[space]
	if p == nil {
		p = m.lotFromEvent(msg, space)
		if p == nil {
			return
		}
	}
	s := readSnap(msg, "Parkee")
	if s.channel == "" {
		m.skip("missing_field", "event", "ParkedCall")
		return
	}
	c := m.chans[s.channel]
	num, name := s.cidNum, s.cidName
	if c != nil && num == "" {
		num, name = c.cidNum, c.cidName
	}
	timeout, _ := strconv.ParseInt(field(msg, "ParkingTimeout"), 10, 64)
	pc := pbx.ParkedCaller{
		Num: num, Name: callerName(name), Parking: space, Channel: s.channel,
		ParkedAt: m.nowMs(), TimeoutAt: timeout,
	}
	// parkeeNum/parkeeName are the party who parked the call (astproxy's
	// field names notwithstanding): the extension of ParkerDialString
	// (PJSIP/202 → 202) and its directory name.
	if parker := endpointOf(field(msg, "ParkerDialString") + "-"); parker != "" {
		pc.ParkeeNum = parker
		pc.ParkeeName = m.extName(parker)
	}
	if old := p.ParkedCaller; old.Channel == pc.Channel && old.Num == pc.Num && old.Name == pc.Name && old.ParkeeNum == pc.ParkeeNum {
		return // same call (e.g. the ParkedCalls list after the event)
	}
	p.ParkedCaller = pc
	m.mark(okey{k: pbx.KindParking, id: space})
	if c != nil && c.parkedIn != space {
		m.markPair(c) // before: its old partner's conversation ends too
		c.parkedIn = keep(space)
		m.markOwner(c)
	}
}

// parked reports whether c waits in a parking space: a ParkedCall named it
// and it sits in a holding bridge (docs/ami-model.md, section 7).
func (m *Model) parked(c *channel) bool {
	return c.parkedIn != "" && m.inHolding(c)
}

// lotFromEvent creates the parking space of a ParkedCall in a lot the
// snapshot did not list (a lot created after it, or a PBX that lists no
// lots), unless the objects file restricts the lots and does not name it.
func (m *Model) lotFromEvent(msg *goami2.Message, space string) *pbx.Parking {
	n, err := strconv.Atoi(space)
	if err != nil || n <= 0 {
		m.skip("unknown_parking_space", "space", space)
		return nil
	}
	lotName := field(msg, "Parkinglot")
	if m.objs != nil && len(m.objs.Parkings) > 0 {
		if _, ok := m.objs.Parkings[lotName]; !ok {
			m.skip("unknown_parking_lot", "lot", lotName)
			return nil
		}
	}
	timeout, _ := strconv.Atoi(field(msg, "ParkingTimeout"))
	dur, _ := strconv.Atoi(field(msg, "ParkingDuration"))
	if l, ok := m.lots[lotName]; ok && l.timeout > 0 {
		timeout, dur = l.timeout, 0
	}
	p := &pbx.Parking{Name: space, Parking: space, Timeout: timeout + dur}
	m.parkings[space] = p
	return p
}

func (m *Model) onUnparked(msg *goami2.Message) {
	space := field(msg, "ParkingSpace")
	p := m.parkings[space]
	if p == nil || p.ParkedCaller.Empty() {
		return
	}
	if ch := field(msg, "ParkeeChannel"); ch != "" && !strings.EqualFold(ch, p.ParkedCaller.Channel) {
		return
	}
	p.ParkedCaller = pbx.ParkedCaller{}
	m.mark(okey{k: pbx.KindParking, id: space})
}

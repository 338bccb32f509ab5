package ami

import (
	"strings"

	"github.com/ctiws/ctiws/pbx"
)

// stateNames are astproxy's channel state strings, by AMI ChannelState.
var stateNames = [...]string{"down", "reserved", "offhook", "dialing", "ring", "ringing", "up", "busy", "dialing_offhook", "prering"}

func stateName(st int) string {
	if st >= 0 && st < len(stateNames) {
		return stateNames[st]
	}
	return "down"
}

const (
	stDown    = 0
	stRing    = 4
	stRinging = 5
	stUp      = 6
)

// isSource decides which of a channel and its partner is the conversation
// source (docs/ami-model.md, section 4.2): ring → source, ringing → dest, no partner →
// source, else the smaller Uniqueid sequence.
func isSource(a, b *channel) bool {
	switch {
	case b == nil:
		return true
	case a.dialer == b.name: // b dialled a: the roles stay while the states change
		return false
	case b.dialer == a.name:
		return true
	case a.state == stRing:
		return true
	case a.state == stRinging:
		return false
	case b.state == stRing:
		return false
	case b.state == stRinging:
		return true
	}
	return a.uidSeq <= b.uidSeq
}

// bridgedNum is the connected line number; "<unknown>" with a numeric name
// uses the name.
func bridgedNum(c *channel) string {
	if c.connNum == "<unknown>" && isNumeric(c.connName) {
		return c.connName
	}
	return c.connNum
}

func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func channelJSON(c, partner *channel, typ string) *pbx.Channel {
	ch := &pbx.Channel{}
	fillChannel(ch, c, partner, typ)
	return ch
}

func fillChannel(ch *pbx.Channel, c, partner *channel, typ string) {
	*ch = pbx.Channel{
		Type: typ, Channel: c.name, CallerNum: c.cidNum, CallerName: c.cidName,
		BridgedNum: bridgedNum(c), BridgedName: c.connName, StartTime: c.startMs,
		InConference: c.inConf, ChannelStatus: stateName(c.state),
	}
	if partner != nil {
		ch.BridgedChannel = partner.name
	}
}

// convScratch is space reused from one publish to the next for the
// conversations of the object being marshalled (nil: allocate).
type convScratch struct {
	list   []pbx.Conversation // an extension's
	tconvs pbx.TrunkConversations
	chans  []pbx.Channel
}

// reset makes the space free for the next object.
func (s *convScratch) reset() {
	if s != nil {
		clear(s.list)
		s.list = s.list[:0]
		clear(s.tconvs)
		clear(s.chans)
		s.chans = s.chans[:0]
	}
}

func (s *convScratch) trunkConversations(n int) pbx.TrunkConversations {
	if s == nil {
		return make(pbx.TrunkConversations, n)
	}
	if s.tconvs == nil {
		s.tconvs = pbx.TrunkConversations{}
	}
	return s.tconvs
}

// channels returns the source and destination channels of p.
func (s *convScratch) channels(p pair) (src, dst *pbx.Channel) {
	if s == nil {
		return p.channels()
	}
	src = s.channel(p.src, p.dst, "source")
	if p.dst != nil {
		dst = s.channel(p.dst, p.src, "dest")
	}
	return src, dst
}

func (s *convScratch) channel(c, partner *channel, typ string) *pbx.Channel {
	if len(s.chans) == cap(s.chans) {
		// A new array: the channels given out keep the old one.
		s.chans = make([]pbx.Channel, 0, max(8, 2*cap(s.chans)))
	}
	s.chans = s.chans[:len(s.chans)+1]
	ch := &s.chans[len(s.chans)-1]
	fillChannel(ch, c, partner, typ)
	return ch
}

// convID is p.id() for p, the pair of channel c, kept on c: built again
// only when the pair changes.
func convID(c *channel, p pair) string {
	src, dst := p.src.name, ""
	if p.dst != nil {
		dst = p.dst.name
	}
	id := c.convID
	if len(id) == len(src)+1+len(dst) && id[len(src)] == '>' && id[:len(src)] == src && id[len(src)+1:] == dst {
		return id
	}
	c.convID = p.id()
	return c.convID
}

// pair is a channel, its partner, and which is the source.
type pair struct {
	own, peer *channel
	src, dst  *channel
}

func (m *Model) pairOf(c *channel) pair {
	p := pair{own: c, peer: m.partner(c)}
	if isSource(c, p.peer) {
		p.src, p.dst = c, p.peer
	} else {
		p.src, p.dst = p.peer, c
	}
	return p
}

func (p pair) id() string {
	if p.dst == nil {
		return p.src.name + ">"
	}
	return p.src.name + ">" + p.dst.name
}

func (p pair) channels() (src, dst *pbx.Channel) {
	src = channelJSON(p.src, p.dst, "source")
	if p.dst != nil {
		dst = channelJSON(p.dst, p.src, "dest")
	}
	return src, dst
}

func (p pair) startTime() int64 {
	if p.src.startMs != 0 || p.dst == nil {
		return p.src.startMs
	}
	return p.dst.startMs
}

// queueOf returns the queue a conversation went through ("" if none).
func (m *Model) queueOf(p pair) (through bool, queueID string) {
	if q := m.linkedQueue[p.own.lid]; q != "" {
		return true, q
	}
	if p.peer == nil {
		return p.own.fromQueue, ""
	}
	through = p.own.fromQueue || p.peer.fromQueue
	if !through {
		if pp := m.partner(p.peer); pp != nil && pp != p.own && pp.fromQueue {
			through = true
		}
	}
	if q := m.linkedQueue[p.peer.lid]; q != "" {
		return true, q
	}
	if through && p.peer.local {
		// The ;1 half of a Local/…@from-queue pair runs in context
		// from-queue with Exten = the queue number.
		one := p.peer
		if strings.HasSuffix(one.name, ";2") {
			one = m.chans[strings.TrimSuffix(one.name, ";2")+";1"]
		}
		if one != nil && one.context == "from-queue" {
			queueID = one.exten
		}
	}
	return through, queueID
}

// extensionWithConvs builds the extension with its conversations.
func (m *Model) extensionWithConvs(e *extension) pbx.Extension {
	v := e.obj
	v.Conversations = nil
	if convs := m.extensionConvs(e, nil); len(convs) > 0 {
		v.Conversations = make(pbx.Conversations, len(convs))
		for _, c := range convs {
			v.Conversations[c.ID] = c
		}
	}
	return v
}

// extensionConvs builds the conversations of extension e, their IDs
// distinct (as the keys of its Conversations map), in s (nil: in a slice
// and channels of their own). Each is a value in the list: in a map, a
// value this large is kept out of line, an allocation per conversation.
func (m *Model) extensionConvs(e *extension, s *convScratch) []pbx.Conversation {
	if len(e.chans) == 0 {
		return nil
	}
	var convs []pbx.Conversation
	if s != nil {
		convs = s.list[:0]
	}
	for _, c := range e.chans {
		p := m.pairOf(c)
		if p.peer == nil && (c.state == stDown || c.ending || (c.talked && !c.inConf && !m.inHolding(c))) {
			// No call a person would recognise, so no one-sided "out"
			// flash: a channel created but not dialled yet (the callee's
			// Newchannel before DialBegin), a dial attempt that failed
			// (answered elsewhere, busy: it hangs up next), or a channel
			// whose other party has gone (transfer, hangup in progress;
			// a parked channel waiting in its holding bridge still shows).
			continue
		}
		src, dst := s.channels(p)
		conv := pbx.Conversation{
			ID: convID(c, p), Owner: e.obj.Exten, ChSource: src, ChDest: dst,
			LinkedID: c.lid, UniqueID: c.uid, StartTime: p.startTime(), Recording: recordingOf(p),
			Direction: "in",
		}
		if p.src == c {
			conv.Direction = "out"
		}
		conv.InConference = c.inConf || (p.peer != nil && p.peer.inConf)
		conv.Connected = conv.InConference || (p.peer != nil && c.state == stUp && p.peer.state == stUp)
		conv.ThroughTrunk = m.throughTrunk(c, p.peer)
		conv.ThroughQueue, conv.QueueID = m.queueOf(p)
		if p.src == c {
			conv.CounterpartNum, conv.CounterpartName = bridgedNum(p.src), p.src.connName
		} else if p.dst != nil {
			conv.CounterpartNum, conv.CounterpartName = bridgedNum(p.dst), p.dst.connName
		}
		if strings.HasPrefix(conv.CounterpartName, "CID:") {
			conv.CounterpartName = ""
		}
		if c.inConf && p.peer == nil && c.confRoom != "" {
			// A conference member talks to the room, not to a caller.
			conv.CounterpartNum, conv.CounterpartName = c.confRoom, ""
		}
		if c.spying != "" && p.peer == nil {
			// A supervisor's channel running ChanSpy: in a call with the
			// spied party once answered, though in no bridge.
			conv.Connected = c.state == stUp
			if spied := m.chans[c.spying]; spied != nil {
				conv.CounterpartNum, conv.CounterpartName = spied.cidNum, callerName(spied.cidName)
				if spied.ext != "" {
					conv.CounterpartNum = spied.ext
					if n := m.extName(spied.ext); n != "" {
						conv.CounterpartName = n
					}
				}
			}
		}
		if m.parked(c) {
			// A parked party waits in the parking space, whoever parked it.
			conv.CounterpartNum, conv.CounterpartName = c.parkedIn, ""
		}
		convs = putConv(convs, conv)
	}
	if s != nil {
		s.list = convs
	}
	return convs
}

// putConv sets conv in convs as a map assignment by its ID would: in place
// of the one with the same ID, or appended.
func putConv(convs []pbx.Conversation, conv pbx.Conversation) []pbx.Conversation {
	for i := range convs {
		if convs[i].ID == conv.ID {
			convs[i] = conv
			return convs
		}
	}
	return append(convs, conv)
}

func unknownDots(s string) string {
	if s == "<unknown>" {
		return "..."
	}
	return s
}

// trunkJSON builds the trunk with its conversations, in s (nil: in maps
// and channels of their own).
func (m *Model) trunkJSON(t *trunk, s *convScratch) pbx.Trunk {
	v := t.obj
	v.Conversations = nil
	if len(t.chans) == 0 {
		return v
	}
	v.Conversations = s.trunkConversations(len(t.chans))
	for _, c := range t.chans {
		p := m.pairOf(c)
		src, dst := s.channels(p)
		conv := pbx.TrunkConversation{
			ID: convID(c, p), Owner: t.obj.Exten, ChSource: src, ChDest: dst, Recording: recordingOf(p),
			StartTime: p.startTime(), Direction: "out",
			ExternalNum: unknownDots(c.cidNum), ExternalName: unknownDots(c.cidName),
			InternalNum: unknownDots(c.connNum), InternalName: unknownDots(c.connName),
		}
		// The trunk's channel is the source when the call came in.
		if p.src == c {
			conv.Direction = "in"
		}
		if conv.InternalName == "" && p.peer != nil && p.peer.ext != "" {
			conv.InternalName = m.extName(p.peer.ext)
		}
		if m.parked(c) {
			// An outside caller parked: its internal side is the space.
			conv.InternalNum, conv.InternalName = c.parkedIn, ""
		}
		conv.ThroughQueue, _ = m.queueOf(p)
		v.Conversations[conv.ID] = conv
	}
	return v
}

// recordingOf is a conversation's recording state: "true" when MixMonitor
// runs on either of its channels (it records both directions of the
// bridge), "mute" when every running one is muted, else "false".
func recordingOf(p pair) string {
	rec, muted := false, true
	for _, c := range []*channel{p.src, p.dst} {
		if c != nil && c.recording {
			rec = true
			muted = muted && c.recMuted
		}
	}
	switch {
	case !rec:
		return "false"
	case muted:
		return "mute"
	}
	return "true"
}

// inHolding reports whether c waits in a parking or holding bridge.
func (m *Model) inHolding(c *channel) bool {
	if c.bridge == "" {
		return false
	}
	b := m.bridges[c.bridge]
	return b != nil && b.holding
}

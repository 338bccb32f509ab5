package pbx

import "slices"

// chanMemo keeps the JSON of the last channels written inside a
// conversation: a call's two channels are written again, the same, in the
// other party's extension and in most of the call's next changes.
type chanMemo struct {
	ent  [4]chanJSON
	next int // the entry to replace
}

type chanJSON struct {
	ch Channel
	b  []byte // nil: unused
}

// channel appends c as appendChannel(dst, c, true) does, from the memo
// when a channel equal to c was written last time.
func (m *chanMemo) channel(dst []byte, c *Channel) []byte {
	if c == nil {
		return appendChannel(dst, c, true)
	}
	for i := range m.ent {
		if e := &m.ent[i]; e.b != nil && e.ch == *c {
			return append(dst, e.b...)
		}
	}
	start := len(dst)
	dst = appendChannel(dst, c, true)
	e := &m.ent[m.next]
	m.next = (m.next + 1) % len(m.ent)
	e.ch = *c
	e.b = append(e.b[:0], dst[start:]...)
	return dst
}

// headMemo keeps the JSON of the last extensions written up to their
// conversations (extensionHead): a call changes its parties'
// conversations far more often than their status or settings.
type headMemo struct {
	ent  [4]headJSON
	next int // the entry to replace
}

type headJSON struct {
	e       Extension // Conversations, Codecs and UseWebsocket unset
	codecs  Codecs    // a copy (the caller's may change in place)
	nilCods bool
	ws      int8 // UseWebsocket: 0 nil, 1 false, 2 true
	b       []byte
}

func wsOf(p *bool) int8 {
	switch {
	case p == nil:
		return 0
	case *p:
		return 2
	}
	return 1
}

// matches reports whether h holds the head of an extension equal to e up
// to its conversations; the fields most likely to differ come first.
func (h *headJSON) matches(e *Extension) bool {
	s := &h.e
	return h.b != nil && s.Exten == e.Exten && s.Status == e.Status && s.SIPUserAgent == e.SIPUserAgent &&
		s.IP == e.IP && s.Port == e.Port && s.MAC == e.MAC && s.Name == e.Name && s.Username == e.Username &&
		s.DND == e.DND && s.CF == e.CF && s.CFB == e.CFB && s.CFU == e.CFU &&
		s.CFVm == e.CFVm && s.CFBVm == e.CFBVm && s.CFUVm == e.CFUVm &&
		s.Context == e.Context && s.ChanType == e.ChanType && h.ws == wsOf(e.UseWebsocket) &&
		h.nilCods == (e.Codecs == nil) && slices.Equal(h.codecs, e.Codecs)
}

// head appends extensionHead(dst, e), from the memo when an extension
// equal to e (up to its conversations) was written last time.
func (m *headMemo) head(dst []byte, e *Extension) []byte {
	for i := range m.ent {
		if m.ent[i].matches(e) {
			return append(dst, m.ent[i].b...)
		}
	}
	start := len(dst)
	dst = extensionHead(dst, e)
	h := &m.ent[m.next]
	m.next = (m.next + 1) % len(m.ent)
	h.e = *e
	h.e.Conversations, h.e.Codecs, h.e.UseWebsocket = nil, nil, nil
	h.ws, h.nilCods = wsOf(e.UseWebsocket), e.Codecs == nil
	h.codecs = append(h.codecs[:0], e.Codecs...)
	h.b = append(h.b[:0], dst[start:]...)
	return dst
}

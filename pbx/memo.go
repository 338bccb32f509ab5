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
	k       headKey
	codecs  Codecs // a copy (the caller's may change in place)
	nilCods bool
	b       []byte
}

// headKey is what extensionHead writes of an Extension but its codecs.
type headKey struct {
	ip, port, mac, exten, name, username, status string
	dnd                                          bool
	cf, cfb, cfu, cfVm, cfbVm, cfuVm             string
	context, chanType, userAgent                 string
	ws                                           int8 // UseWebsocket: 0 nil, 1 false, 2 true
}

func headKeyOf(e *Extension) headKey {
	k := headKey{
		ip: e.IP, port: e.Port, mac: e.MAC, exten: e.Exten, name: e.Name, username: e.Username, status: e.Status,
		dnd: e.DND, cf: e.CF, cfb: e.CFB, cfu: e.CFU, cfVm: e.CFVm, cfbVm: e.CFBVm, cfuVm: e.CFUVm,
		context: e.Context, chanType: e.ChanType, userAgent: e.SIPUserAgent,
	}
	if p := e.UseWebsocket; p != nil {
		k.ws = 1
		if *p {
			k.ws = 2
		}
	}
	return k
}

// head appends extensionHead(dst, e), from the memo when an extension
// equal to e (up to its conversations) was written last time.
func (m *headMemo) head(dst []byte, e *Extension) []byte {
	k := headKeyOf(e)
	for i := range m.ent {
		h := &m.ent[i]
		if h.b != nil && h.k == k && h.nilCods == (e.Codecs == nil) && slices.Equal(h.codecs, e.Codecs) {
			return append(dst, h.b...)
		}
	}
	start := len(dst)
	dst = extensionHead(dst, e)
	h := &m.ent[m.next]
	m.next = (m.next + 1) % len(m.ent)
	h.k, h.nilCods = k, e.Codecs == nil
	h.codecs = append(h.codecs[:0], e.Codecs...)
	h.b = append(h.b[:0], dst[start:]...)
	return dst
}

package pbx

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

package pbx

import "strconv"

// clockMark is a clock-derived value of a comparison JSON: the seconds from
// start to now, or (down) left less the seconds from start to now, at
// least 0 (a parked caller's timeout).
type clockMark struct {
	off   int // offset of the 0 written in its place
	start int64
	left  int64
	down  bool
}

// value is the mark's value at nowMs: what SetTimes(nowMs) sets.
func (m clockMark) value(nowMs int64) int64 {
	if !m.down {
		return seconds(nowMs, m.start)
	}
	if nowMs == 0 {
		return 0
	}
	return max(m.left-seconds(nowMs, m.start), 0)
}

// clock writes the clock-derived field key: v, or 0 and a mark when a.cmp.
func (a *appender) clock(dst []byte, key string, v int64, m clockMark) []byte {
	dst = append(dst, key...)
	if !a.cmp {
		return strconv.AppendInt(dst, v, 10)
	}
	m.off = len(dst)
	a.marks = append(a.marks, m)
	return append(dst, '0')
}

// stamp returns a copy of b, a comparison JSON, with its clock-derived
// values for nowMs.
func (a *appender) stamp(b []byte, nowMs int64) []byte {
	out := make([]byte, 0, len(b)+len(a.marks)*8)
	prev := 0
	for _, m := range a.marks {
		out = append(out, b[prev:m.off]...)
		out = strconv.AppendInt(out, m.value(nowMs), 10)
		prev = m.off + 1
	}
	return append(out, b[prev:]...)
}

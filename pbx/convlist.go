package pbx

import (
	"slices"
	"strings"
)

// CompareExtensionList writes the comparison JSON of v with convs as its
// conversations (v.Conversations is not read): the bytes CompareExtension
// writes for v with a Conversations map holding each of convs under its
// ID. The IDs of convs must be distinct; convs is sorted by ID in place.
// A list, unlike the map, is reused without an allocation per
// conversation (a map keeps a value this large out of line).
func (e *Encoder) CompareExtensionList(v *Extension, convs []Conversation) []byte {
	e.startCompare()
	e.buf = e.app.heads.head(e.buf[:0], v)
	e.buf = appendConvList(&e.app, e.buf, convs)
	e.buf = append(e.buf, '}')
	return e.endCompare()
}

// appendConvList writes convs as appendMap writes a Conversations map
// keyed by their IDs: keys sorted, HTML escaped.
func appendConvList(a *appender, dst []byte, convs []Conversation) []byte {
	if len(convs) == 0 {
		return append(dst, "{}"...)
	}
	if len(convs) > 1 {
		slices.SortFunc(convs, func(x, y Conversation) int { return strings.Compare(x.ID, y.ID) })
	}
	dst = append(dst, '{')
	for i := range convs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, convs[i].ID, true)
		dst = append(dst, ':')
		dst = appendConversation(a, dst, convs[i])
	}
	return append(dst, '}')
}

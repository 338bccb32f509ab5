package ami

import (
	"fmt"
	"strings"
	"unicode/utf8"
	"unique"

	"github.com/staskobzar/goami2"
)

// parseFrame turns one framed message into a goami2.Message. goami2.Parse
// is tried first (under recover: it panics on some inputs); when it rejects
// the frame (LF-only line ends, header names with '_' or of one character,
// raw Command output) a tolerant line parser takes over. fallback reports
// that the second parser was needed.
func parseFrame(frame []byte) (msg *goami2.Message, fallback bool, err error) {
	s := string(frame)
	if strings.HasSuffix(s, "\r\n\r\n") {
		if m, ok := safeParse(s); ok && m.Len() > 0 {
			return m, false, nil
		}
	}
	m := tolerantParse(s)
	if m.Len() == 0 {
		return nil, true, errMalformed
	}
	return m, true, nil
}

func safeParse(s string) (m *goami2.Message, ok bool) {
	defer func() {
		if recover() != nil {
			m, ok = nil, false
		}
	}()
	m, err := goami2.Parse(s)
	return m, err == nil && m != nil
}

// tolerantParse reads "Name: value" lines; lines without a colon or with an
// empty or space-containing name are skipped. The value is everything after
// the first colon, without one leading space.
func tolerantParse(s string) *goami2.Message {
	m := goami2.NewMessage()
	for len(s) > 0 {
		var line string
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			line, s = s[:i], s[i+1:]
		} else {
			line, s = s, ""
		}
		line = strings.TrimSuffix(line, "\r")
		i := strings.IndexByte(line, ':')
		if i <= 0 {
			continue
		}
		name := line[:i]
		if !validName(name) {
			continue
		}
		v := line[i+1:]
		if len(v) > 0 && v[0] == ' ' {
			v = v[1:]
		}
		m.AddField(name, v)
	}
	return m
}

func validName(n string) bool {
	for i := 0; i < len(n); i++ {
		c := n[i]
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// keep returns s in an allocation of its own, for a value the model keeps
// as long as an object lives. A header value is a substring of its whole
// AMI frame, which it would keep alive (measured: about 1 KiB per
// extension of a 10,000-extension PBX).
func keep(s string) string { return strings.Clone(s) }

// intern returns the canonical copy of s, for a kept value that many
// objects share (a phone model's user agent, a context, a codec, a
// message count): one allocation for all of them, none of a frame.
func intern(s string) string { return unique.Make(s).Value() }

// field returns the first header named key (ASCII case-insensitive); it is
// goami2's Message.Field with a cheaper comparison.
func field(m *goami2.Message, key string) string {
	if m == nil {
		return ""
	}
	for _, h := range m.Headers() {
		if len(h.Name) == len(key) && (h.Name == key || equalFold(h.Name, key)) {
			return h.Value
		}
	}
	return ""
}

// equalFold is strings.EqualFold for strings of the same length, without
// its cost when they differ in their first ASCII letters (most header
// names of one length do: Channel, Context).
func equalFold(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if x|y >= utf8.RuneSelf {
			return strings.EqualFold(a, b)
		}
		if l := x | 0x20; l != y|0x20 || l < 'a' || l > 'z' {
			return false
		}
	}
	return true
}

// kind classifies a message by its first meaningful header.
func kind(m *goami2.Message) string {
	switch {
	case field(m, "Event") != "":
		return "event"
	case field(m, "Response") != "":
		return "response"
	default:
		return "other"
	}
}

// describe is a short text for logs (never the whole message: it may carry
// secrets such as a Login's Secret).
func describe(m *goami2.Message) string {
	if m == nil {
		return "<nil>"
	}
	if e := field(m, "Event"); e != "" {
		return "event " + e
	}
	if r := field(m, "Response"); r != "" {
		return fmt.Sprintf("response %s (%s)", r, field(m, "Message"))
	}
	return "message without Event/Response"
}

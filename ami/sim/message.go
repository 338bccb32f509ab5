package sim

import (
	"strings"
)

// Header is one "Key: Value" line of an AMI message.
type Header struct {
	Key   string
	Value string
}

// Message is one AMI message: an ordered list of headers. Keys may repeat
// (Output, Variable); lookups are case-insensitive.
type Message struct {
	Headers []Header
}

// NewEvent returns a message starting with "Event: name" and
// "Privilege: privilege" (omitted when privilege is empty).
func NewEvent(name, privilege string) *Message {
	m := &Message{Headers: make([]Header, 0, 24)}
	m.Headers = append(m.Headers, Header{"Event", name})
	if privilege != "" {
		m.Headers = append(m.Headers, Header{"Privilege", privilege})
	}
	return m
}

// Add appends a header and returns m.
func (m *Message) Add(key, value string) *Message {
	m.Headers = append(m.Headers, Header{key, value})
	return m
}

// Get returns the value of the first header named key (case-insensitive),
// or "" when there is none.
func (m *Message) Get(key string) string {
	v, _ := m.Lookup(key)
	return v
}

// Lookup returns the value of the first header named key (case-insensitive)
// and whether it exists.
func (m *Message) Lookup(key string) (string, bool) {
	for _, h := range m.Headers {
		if strings.EqualFold(h.Key, key) {
			return h.Value, true
		}
	}
	return "", false
}

// Values returns the values of every header named key, in order.
func (m *Message) Values(key string) []string {
	var out []string
	for _, h := range m.Headers {
		if strings.EqualFold(h.Key, key) {
			out = append(out, h.Value)
		}
	}
	return out
}

// Set replaces the value of the first header named key, or appends the
// header when it is absent.
func (m *Message) Set(key, value string) {
	for i, h := range m.Headers {
		if strings.EqualFold(h.Key, key) {
			m.Headers[i].Value = value
			return
		}
	}
	m.Add(key, value)
}

// Del removes every header named key.
func (m *Message) Del(key string) {
	out := m.Headers[:0]
	for _, h := range m.Headers {
		if !strings.EqualFold(h.Key, key) {
			out = append(out, h)
		}
	}
	m.Headers = out
}

// Kind returns the lower-cased key of the first header ("event",
// "response", "action"), or "" for an empty message.
func (m *Message) Kind() string {
	if len(m.Headers) == 0 {
		return ""
	}
	return strings.ToLower(m.Headers[0].Key)
}

// Name returns the value of the first header (the event, response or
// action name).
func (m *Message) Name() string {
	if len(m.Headers) == 0 {
		return ""
	}
	return m.Headers[0].Value
}

// Clone returns a deep copy of m.
func (m *Message) Clone() *Message {
	return &Message{Headers: append([]Header(nil), m.Headers...)}
}

// withActionID returns a copy of m whose ActionID header (if any) is
// replaced by id, or, when m has none and id is not empty, carries it as its
// second header.
func (m *Message) withActionID(id string) *Message {
	c := m.Clone()
	if id == "" {
		c.Del("ActionID")
		return c
	}
	for i, h := range c.Headers {
		if strings.EqualFold(h.Key, "ActionID") {
			c.Headers[i].Value = id
			return c
		}
	}
	c.insertActionID(id)
	return c
}

// insertActionID inserts an ActionID header right after the first header.
func (m *Message) insertActionID(id string) {
	if id == "" {
		return
	}
	if len(m.Headers) == 0 {
		m.Add("ActionID", id)
		return
	}
	m.Headers = append(m.Headers, Header{})
	copy(m.Headers[2:], m.Headers[1:])
	m.Headers[1] = Header{"ActionID", id}
}

// AppendWire appends the wire form of m (CRLF line ends and the empty line
// that ends the message) to b. CR and LF inside keys or values are replaced
// by spaces so that a value can never break the framing.
func (m *Message) AppendWire(b []byte) []byte {
	for _, h := range m.Headers {
		b = appendClean(b, h.Key)
		b = append(b, ": "...)
		b = appendClean(b, h.Value)
		b = append(b, '\r', '\n')
	}
	return append(b, '\r', '\n')
}

// String returns the wire form of m.
func (m *Message) String() string {
	return string(m.AppendWire(nil))
}

func appendClean(b []byte, s string) []byte {
	if !strings.ContainsAny(s, "\r\n") {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		b = append(b, c)
	}
	return b
}

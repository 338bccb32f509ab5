package sim

import (
	"strings"
	"sync"
)

// receivedLogSize is how many received actions the server remembers.
const receivedLogSize = 4096

// receivedLog keeps the last actions clients sent, for tests that must
// prove what reached the PBX (e.g. that no input ever smuggled a second
// action). Secrets are redacted before they are stored.
type receivedLog struct {
	mu    sync.Mutex
	total uint64
	ring  [receivedLogSize]Message
}

func (l *receivedLog) add(m *Message) {
	c := Message{Headers: make([]Header, len(m.Headers))}
	for i, h := range m.Headers {
		if strings.EqualFold(h.Key, "Secret") || strings.EqualFold(h.Key, "Key") && strings.EqualFold(m.Get("Action"), "Login") {
			h.Value = "********"
		}
		c.Headers[i] = h
	}
	l.mu.Lock()
	l.ring[l.total%receivedLogSize] = c
	l.total++
	l.mu.Unlock()
}

// ReceivedActions returns the messages clients sent after the first since
// ones (a cursor: pass 0, then the returned next), oldest first, with
// secrets redacted. Messages older than the last 4096 are gone; lost
// reports how many of the requested ones were.
func (s *Server) ReceivedActions(since uint64) (msgs []Message, next uint64, lost uint64) {
	l := &s.received
	l.mu.Lock()
	defer l.mu.Unlock()
	from := since
	if l.total > receivedLogSize && from < l.total-receivedLogSize {
		lost = l.total - receivedLogSize - from
		from = l.total - receivedLogSize
	}
	for i := from; i < l.total; i++ {
		msgs = append(msgs, l.ring[i%receivedLogSize])
	}
	return msgs, l.total, lost
}

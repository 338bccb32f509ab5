package ami

import (
	"time"
)

// Hooks lets the metrics layer observe a connection and its model without
// this package importing Prometheus. Every field may be nil.
type Hooks struct {
	// ConnState reports the AMI link going up (true) or down (false).
	ConnState func(connected bool)
	// Reconnect is called before every reconnect attempt.
	Reconnect func()
	// Message is called for every framed message: "event", "response" or
	// "other".
	Message func(kind string)
	// ParseError is called for every message or frame that was skipped or
	// needed the fallback parser: "oversize", "malformed", "fallback",
	// "no_kind", "backlog".
	ParseError func(reason string)
	// Skipped is called when the model ignores an event or object, e.g.
	// "unknown_endpoint", "unknown_queue", "missing_field", "unknown_event".
	Skipped func(reason string)
	// Snapshot reports the duration of a completed (re)connect snapshot.
	Snapshot func(d time.Duration)
}

func (h *Hooks) connState(up bool) {
	if h.ConnState != nil {
		h.ConnState(up)
	}
}

func (h *Hooks) reconnect() {
	if h.Reconnect != nil {
		h.Reconnect()
	}
}

func (h *Hooks) message(kind string) {
	if h.Message != nil {
		h.Message(kind)
	}
}

func (h *Hooks) parseError(reason string) {
	if h.ParseError != nil {
		h.ParseError(reason)
	}
}

func (h *Hooks) skipped(reason string) {
	if h.Skipped != nil {
		h.Skipped(reason)
	}
}

func (h *Hooks) snapshot(d time.Duration) {
	if h.Snapshot != nil {
		h.Snapshot(d)
	}
}

package ami

import (
	"log/slog"
	"sync"
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

// rateLog logs a warning at most once per interval per reason, with the
// number of occurrences since the last line.
type rateLog struct {
	log      *slog.Logger
	interval time.Duration
	mu       sync.Mutex
	seen     map[string]*rateEntry
}

type rateEntry struct {
	last  time.Time
	count int
}

func newRateLog(log *slog.Logger, interval time.Duration) *rateLog {
	return &rateLog{log: log, interval: interval, seen: map[string]*rateEntry{}}
}

// warn logs msg for reason unless it was logged less than interval ago.
func (r *rateLog) warn(reason, msg string, args ...any) {
	now := time.Now()
	r.mu.Lock()
	e := r.seen[reason]
	if e == nil {
		e = &rateEntry{}
		r.seen[reason] = e
	}
	e.count++
	if !e.last.IsZero() && now.Sub(e.last) < r.interval {
		r.mu.Unlock()
		return
	}
	n := e.count
	e.count = 0
	e.last = now
	r.mu.Unlock()
	r.log.Warn(msg, append(args, "reason", reason, "occurrences", n)...)
}

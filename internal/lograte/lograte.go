// Package lograte keeps a flood of bad input from flooding the log: a
// warning is written at most once per interval for each reason, with the
// number of occurrences it stands for. Metrics still count every one.
package lograte

import (
	"log/slog"
	"sync"
	"time"
)

// Limiter writes at most one warning per reason and interval. Reasons are
// meant to be a small fixed set (metric label values), never input.
type Limiter struct {
	log   *slog.Logger
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	seen map[string]*entry
}

type entry struct {
	last  time.Time
	count int
}

// New returns a Limiter writing to log at most once per every for each
// reason.
func New(log *slog.Logger, every time.Duration) *Limiter {
	return &Limiter{log: log, every: every, now: time.Now, seen: map[string]*entry{}}
}

// Warn logs msg with args, "reason" and "occurrences" (how many calls for
// reason this line stands for, itself included), unless a line for reason
// was written less than the interval ago; then it only counts.
func (l *Limiter) Warn(reason, msg string, args ...any) {
	now := l.now()
	l.mu.Lock()
	e := l.seen[reason]
	if e == nil {
		e = &entry{}
		l.seen[reason] = e
	}
	e.count++
	if !e.last.IsZero() && now.Sub(e.last) < l.every {
		l.mu.Unlock()
		return
	}
	n := e.count
	e.count, e.last = 0, now
	l.mu.Unlock()
	l.log.Warn(msg, append(args, "reason", reason, "occurrences", n)...)
}

package ws

import (
	"log/slog"
	"sync"
	"time"
)

// logLimiter logs a given reason at most once per interval, so a flood of
// bad input cannot flood the log; metrics still count every occurrence.
type logLimiter struct {
	every time.Duration
	mu    sync.Mutex
	last  map[string]time.Time
}

func newLogLimiter(every time.Duration) *logLimiter {
	return &logLimiter{every: every, last: map[string]time.Time{}}
}

func (l *logLimiter) log(log *slog.Logger, reason, msg string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if t, ok := l.last[reason]; ok && now.Sub(t) < l.every {
		l.mu.Unlock()
		return
	}
	l.last[reason] = now
	l.mu.Unlock()
	log.Warn(msg, append(args, "reason", reason)...)
}

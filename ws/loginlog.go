package ws

import (
	"sync"
	"time"
)

// logBudget lets through at most n log lines per key and window and counts
// the ones it holds back, so a login storm cannot flood the log.
type logBudget struct {
	n      int
	window time.Duration
	mu     sync.Mutex
	m      map[string]*budgetState
}

type budgetState struct {
	start      time.Time
	used       int
	suppressed int
}

func newLogBudget(n int, window time.Duration) *logBudget {
	return &logBudget{n: n, window: window, m: map[string]*budgetState{}}
}

// allow reports whether a line for key may be logged now, and how many
// lines of the previous window were suppressed (to be logged once).
func (b *logBudget) allow(key string, now time.Time) (ok bool, suppressedBefore int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.m[key]
	if st == nil || now.Sub(st.start) >= b.window {
		if st != nil {
			suppressedBefore = st.suppressed
		}
		st = &budgetState{start: now}
		b.m[key] = st
	}
	if st.used >= b.n {
		st.suppressed++
		return false, suppressedBefore
	}
	st.used++
	return true, suppressedBefore
}

package ws

import (
	"sync"
	"time"
)

// maxBackoffKeys bounds the memory of the back-off table; beyond it idle
// keys are dropped first, then arbitrary ones.
const maxBackoffKeys = 100_000

// failState is the failure history of one key.
type failState struct {
	n     int
	last  time.Time
	until time.Time
}

// backoff is the per-node table of failure counts.
type backoff struct {
	base, max time.Duration
	mu        sync.Mutex
	m         map[string]*failState
}

func newBackoff(base, max time.Duration) *backoff {
	return &backoff{base: base, max: max, m: map[string]*failState{}}
}

// wait returns how long key is still locked (0: not locked).
func (b *backoff) wait(key string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, ok := b.m[key]
	if !ok {
		return 0
	}
	if b.idle(st, now) {
		delete(b.m, key)
		return 0
	}
	if d := st.until.Sub(now); d > 0 {
		return d
	}
	return 0
}

func (b *backoff) idle(st *failState, now time.Time) bool {
	return now.Sub(st.last) > b.max && !now.Before(st.until)
}

// fail records a failure of key; free failures are allowed before the
// lock starts.
func (b *backoff) fail(key string, free int, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, ok := b.m[key]
	if !ok || b.idle(st, now) {
		if !ok && len(b.m) >= maxBackoffKeys {
			b.evictLocked(now)
		}
		st = &failState{}
		b.m[key] = st
	}
	st.n++
	st.last = now
	if over := st.n - free; over > 0 {
		d := b.max
		if over <= 30 {
			d = min(b.base<<(over-1), b.max)
		}
		if until := now.Add(d); until.After(st.until) {
			st.until = until
		}
	}
}

// reset forgets key.
func (b *backoff) reset(key string) {
	b.mu.Lock()
	delete(b.m, key)
	b.mu.Unlock()
}

func (b *backoff) evictLocked(now time.Time) {
	for k, st := range b.m {
		if b.idle(st, now) {
			delete(b.m, k)
		}
	}
	for k := range b.m {
		if len(b.m) < maxBackoffKeys {
			return
		}
		delete(b.m, k)
	}
}

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
	// freshNext is when the next attempt from a fresh address may pass
	// the lock (see freshTry).
	freshNext time.Time
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

// failed reports whether key has a failure on record that is not yet
// forgotten.
func (b *backoff) failed(key string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, ok := b.m[key]
	return ok && !b.idle(st, now)
}

// freshTry lets one attempt through the lock of key per lock period: the
// caller asks only for a client that has not failed for key (a user's
// real owner at a new address). It returns true when key is not locked,
// or when it is locked and no attempt was let through during the lock as
// it stood at the last one (the next one may pass once that lock would
// have ended). Many fresh addresses (a botnet) thus get one guess per
// lock period between them, and each failed guess still doubles the lock:
// no faster than the lock lets one address guess.
func (b *backoff) freshTry(key string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, ok := b.m[key]
	if !ok || !now.Before(st.until) {
		return true
	}
	if now.Before(st.freshNext) {
		return false
	}
	st.freshNext = st.until
	return true
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

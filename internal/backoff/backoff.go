// Package backoff is the login back-off of ctiws: per key (a user, a client
// address), in one node's memory, after the free failures every further
// failure locks the key for a time that doubles up to a maximum
// (docs/security.md, section 4). Tenant logins, wrong alarm secrets and
// the operator console's logins share it.
package backoff

import (
	"sync"
	"time"
)

// MaxKeys bounds the memory of a table; beyond it idle keys are dropped
// first, then arbitrary ones.
const MaxKeys = 100_000

// failState is the failure history of one key.
type failState struct {
	n     int
	last  time.Time
	until time.Time
	// freshNext is when the next attempt from a fresh address may pass
	// the lock (see freshTry).
	freshNext time.Time
}

// Table is the per-node table of failure counts; safe for concurrent use.
type Table struct {
	base, max time.Duration
	mu        sync.Mutex
	m         map[string]*failState
}

// New returns a table whose locks start at base and double up to max.
func New(base, max time.Duration) *Table {
	return &Table{base: base, max: max, m: map[string]*failState{}}
}

// Wait returns how long key is still locked (0: not locked).
func (b *Table) Wait(key string, now time.Time) time.Duration {
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

func (b *Table) idle(st *failState, now time.Time) bool {
	return now.Sub(st.last) > b.max && !now.Before(st.until)
}

// Fail records a failure of key; free failures are allowed before the
// lock starts.
func (b *Table) Fail(key string, free int, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, ok := b.m[key]
	if !ok || b.idle(st, now) {
		if !ok && len(b.m) >= MaxKeys {
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

// Failed reports whether key has a failure on record that is not yet
// forgotten.
func (b *Table) Failed(key string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, ok := b.m[key]
	return ok && !b.idle(st, now)
}

// FreshTry lets one attempt through the lock of key per lock period: the
// caller asks only for a client that has not failed for key (a user's
// real owner at a new address). It returns true when key is not locked,
// or when it is locked and no attempt was let through during the lock as
// it stood at the last one (the next one may pass once that lock would
// have ended). Many fresh addresses (a botnet) thus get one guess per
// lock period between them, and each failed guess still doubles the lock:
// no faster than the lock lets one address guess.
func (b *Table) FreshTry(key string, now time.Time) bool {
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

// Reset forgets key.
func (b *Table) Reset(key string) {
	b.mu.Lock()
	delete(b.m, key)
	b.mu.Unlock()
}

func (b *Table) evictLocked(now time.Time) {
	for k, st := range b.m {
		if b.idle(st, now) {
			delete(b.m, k)
		}
	}
	for k := range b.m {
		if len(b.m) < MaxKeys {
			return
		}
		delete(b.m, k)
	}
}

package memory

import (
	"context"
	"sync"
	"time"
)

// sweepEvery bounds how often Put scans for expired tokens.
const sweepEvery = time.Minute

type tokenKey struct{ tenant, user, hash string }

type tokens struct {
	now       func() time.Time
	mu        sync.Mutex
	m         map[tokenKey]time.Time // deadline; zero = persistent
	lastSweep time.Time
}

func newTokens(now func() time.Time) *tokens {
	return &tokens{now: now, m: map[tokenKey]time.Time{}, lastSweep: now()}
}

// Put stores a token hash for user; ttl 0 means persistent.
func (t *tokens) Put(_ context.Context, tenant, user, tokenHash string, ttl time.Duration) error {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.m[tokenKey{tenant, user, tokenHash}] = deadline(now, ttl)
	if now.Sub(t.lastSweep) >= sweepEvery {
		t.lastSweep = now
		for k, d := range t.m {
			if expired(d, now) {
				delete(t.m, k)
			}
		}
	}
	return nil
}

// Check reports whether the token is valid and slides a non-persistent one.
func (t *tokens) Check(_ context.Context, tenant, user, tokenHash string, ttl time.Duration) (bool, error) {
	now := t.now()
	k := tokenKey{tenant, user, tokenHash}
	t.mu.Lock()
	defer t.mu.Unlock()
	d, ok := t.m[k]
	if !ok {
		return false, nil
	}
	if expired(d, now) {
		delete(t.m, k)
		return false, nil
	}
	if !d.IsZero() && ttl > 0 {
		t.m[k] = now.Add(ttl)
	}
	return true, nil
}

// Delete removes a token hash.
func (t *tokens) Delete(_ context.Context, tenant, user, tokenHash string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, tokenKey{tenant, user, tokenHash})
	return nil
}

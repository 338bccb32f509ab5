package memory

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

// sweepEvery bounds how often Put scans for expired tokens.
const sweepEvery = time.Minute

type tokenKey struct{ tenant, user, hash string }

type userKey struct{ tenant, user string }

type denyKey struct{ tenant, hash string }

type tokenEntry struct {
	deadline time.Time // zero = persistent
	created  time.Time
	pwfp     string // password fingerprint it was issued under; "" none
}

type tokens struct {
	now       func() time.Time
	mu        sync.Mutex
	m         map[tokenKey]tokenEntry
	notBefore map[userKey]time.Time
	deny      map[denyKey]time.Time // until
	passwords map[userKey]string    // current fingerprint; "" removed
	retired   map[userKey][]string  // replaced fingerprints, oldest first
	lastSweep time.Time
}

func newTokens(now func() time.Time) *tokens {
	return &tokens{now: now, m: map[tokenKey]tokenEntry{}, notBefore: map[userKey]time.Time{},
		deny: map[denyKey]time.Time{}, passwords: map[userKey]string{}, retired: map[userKey][]string{}, lastSweep: now()}
}

// Put stores a token hash for user; ttl 0 means persistent.
func (t *tokens) Put(_ context.Context, tenant, user, tokenHash string, ttl time.Duration) error {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.m[tokenKey{tenant, user, tokenHash}] = tokenEntry{deadline: deadline(now, ttl), created: now}
	t.sweepLocked(now)
	return nil
}

// sweepLocked drops expired tokens and deny-list entries, at most once per
// sweepEvery.
func (t *tokens) sweepLocked(now time.Time) {
	if now.Sub(t.lastSweep) < sweepEvery {
		return
	}
	t.lastSweep = now
	for k, e := range t.m {
		if expired(e.deadline, now) {
			delete(t.m, k)
		}
	}
	for k, until := range t.deny {
		if !now.Before(until) {
			delete(t.deny, k)
		}
	}
}

// PutPersistent stores a persistent token and evicts the oldest beyond max.
func (t *tokens) PutPersistent(_ context.Context, tenant, user, tokenHash string, max int) (int, error) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.putLocked(now, tenant, user, tokenHash, 0, max, ""), nil
}

// putLocked stores a token (ttl 0: persistent, the oldest evicted beyond
// max) and returns how many were evicted.
func (t *tokens) putLocked(now time.Time, tenant, user, tokenHash string, ttl time.Duration, max int, pwfp string) int {
	t.m[tokenKey{tenant, user, tokenHash}] = tokenEntry{deadline: deadline(now, ttl), created: now, pwfp: pwfp}
	t.sweepLocked(now)
	if ttl > 0 || max <= 0 {
		return 0
	}
	list := t.persistentLocked(tenant, user)
	evicted := 0
	for len(list) > max {
		delete(t.m, tokenKey{tenant, user, list[0].Hash})
		list = list[1:]
		evicted++
	}
	return evicted
}

// persistentLocked lists the user's persistent tokens, oldest first (ties
// by hash, like a Redis sorted set).
func (t *tokens) persistentLocked(tenant, user string) []cluster.PersistentToken {
	var out []cluster.PersistentToken
	for k, e := range t.m {
		if k.tenant == tenant && k.user == user && e.deadline.IsZero() {
			out = append(out, cluster.PersistentToken{Hash: k.hash, Created: e.created})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].Hash < out[j].Hash
	})
	return out
}

// Check reports whether the token is valid and slides a non-persistent one.
func (t *tokens) Check(_ context.Context, tenant, user, tokenHash string, ttl time.Duration) (bool, error) {
	now := t.now()
	k := tokenKey{tenant, user, tokenHash}
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[k]
	if !ok {
		return false, nil
	}
	if expired(e.deadline, now) || e.created.Before(t.notBefore[userKey{tenant, user}]) || !t.passwordCurrentLocked(tenant, user, e.pwfp) {
		delete(t.m, k)
		return false, nil
	}
	if !e.deadline.IsZero() && ttl > 0 {
		e.deadline = now.Add(ttl)
		t.m[k] = e
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

// Persistent lists the user's persistent tokens, oldest first.
func (t *tokens) Persistent(_ context.Context, tenant, user string) ([]cluster.PersistentToken, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.persistentLocked(tenant, user), nil
}

// RevokeUser deletes the user's persistent tokens and moves its not-before.
func (t *tokens) RevokeUser(_ context.Context, tenant, user string, at time.Time) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.revokeLocked(tenant, user, at), nil
}

func (t *tokens) revokeLocked(tenant, user string, at time.Time) int {
	n := 0
	for _, p := range t.persistentLocked(tenant, user) {
		delete(t.m, tokenKey{tenant, user, p.Hash})
		n++
	}
	uk := userKey{tenant, user}
	if at.After(t.notBefore[uk]) {
		t.notBefore[uk] = at
	}
	return n
}

// DenyJWT puts a JWT hash on the deny-list until exp.
func (t *tokens) DenyJWT(_ context.Context, tenant, tokenHash string, exp time.Time) error {
	now := t.now()
	if !now.Before(exp) {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.deny[denyKey{tenant, tokenHash}] = exp
	return nil
}

// CheckJWT reports whether a JWT is neither denied nor issued before the
// user's not-before.
func (t *tokens) CheckJWT(_ context.Context, tenant, user, tokenHash string, issued time.Time, pwfp string) (bool, error) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if until, ok := t.deny[denyKey{tenant, tokenHash}]; ok && now.Before(until) {
		return false, nil
	}
	return !issued.Before(t.notBefore[userKey{tenant, user}]) && t.passwordCurrentLocked(tenant, user, pwfp), nil
}

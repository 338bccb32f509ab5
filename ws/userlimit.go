package ws

import (
	"math"
	"sync"
	"time"
)

// Kinds of what one user sends to others, each with a token bucket per
// user (userLimiter).
const (
	userKindRelay    = "relay"
	userKindPostit   = "postit"
	userKindAvatar   = "avatar"
	userKindPresence = "presence"
)

// Rate is a token bucket: PerSecond tokens come back each second, at most
// Burst are held (the first Burst requests pass at once).
type Rate struct {
	PerSecond float64
	Burst     int
}

// userLimiter bounds, per user and kind, what a user sends to others: one
// token bucket shared by every socket and REST request of the user on this
// node. It is per node, not in the store: a relay costs no Redis round trip
// more, and a flood that is refused costs Redis nothing. Across the
// cluster a user gets at most N nodes × the rate (docs/security.md,
// section 5); max_sockets_per_user bounds the sockets they can spread.
type userLimiter struct {
	rates map[string]Rate // by kind

	mu        sync.Mutex
	buckets   map[userBucketKey]*userBucket
	lastSweep time.Time
}

type userBucketKey struct{ tenant, user, kind string }

type userBucket struct {
	tokens float64
	last   time.Time
}

// userSweepEvery is how often idle (full) buckets are forgotten, so the
// map holds only users who sent something within about a refill time.
const userSweepEvery = time.Minute

func newUserLimiter(rates map[string]Rate) *userLimiter {
	return &userLimiter{rates: rates, buckets: map[userBucketKey]*userBucket{}}
}

// take takes a token of kind for the user; when there is none it reports
// false and how long until there is one.
func (u *userLimiter) take(now time.Time, tenant, user, kind string) (ok bool, retry time.Duration) {
	r := u.rates[kind]
	if r.PerSecond <= 0 || r.Burst <= 0 {
		return true, 0 // an unknown kind is not limited
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if now.Sub(u.lastSweep) >= userSweepEvery {
		u.sweep(now)
	}
	k := userBucketKey{tenant, user, kind}
	b := u.buckets[k]
	if b == nil {
		b = &userBucket{tokens: float64(r.Burst), last: now}
		u.buckets[k] = b
	}
	b.tokens = min(float64(r.Burst), b.tokens+max(0, now.Sub(b.last).Seconds())*r.PerSecond)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration(math.Ceil((1 - b.tokens) / r.PerSecond * float64(time.Second)))
}

// sweep forgets the buckets that are full again; u.mu is held.
func (u *userLimiter) sweep(now time.Time) {
	u.lastSweep = now
	for k, b := range u.buckets {
		r := u.rates[k.kind]
		if b.tokens+now.Sub(b.last).Seconds()*r.PerSecond >= float64(r.Burst) {
			delete(u.buckets, k)
		}
	}
}

// retryAfter is a Retry-After value in whole seconds, at least 1.
func retryAfter(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

package console

import (
	"sync"
	"time"
)

// maxThrottleKeys bounds the back-off table; past it idle keys go first.
const maxThrottleKeys = 10_000

// throttle is the login back-off of the console, per user and per client
// address, in this node's memory: after the free failures each further
// failure locks the key for a time that doubles up to the maximum (the
// rule of the tenants' logins, docs/security.md, section 4).
type throttle struct {
	base, max time.Duration
	mu        sync.Mutex
	m         map[string]*failures
}

type failures struct {
	n           int
	last, until time.Time
}

func newThrottle(base, max time.Duration) *throttle {
	return &throttle{base: base, max: max, m: map[string]*failures{}}
}

// wait is how long key is still locked (0: not locked).
func (t *throttle) wait(key string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f, ok := t.m[key]; ok {
		return max(f.until.Sub(now), 0)
	}
	return 0
}

// fail records a failure of key after free allowed ones.
func (t *throttle) fail(key string, free int, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.m[key]
	if !ok || now.Sub(f.last) > t.max && !now.Before(f.until) {
		if !ok && len(t.m) >= maxThrottleKeys {
			t.evictLocked(now)
		}
		f = &failures{}
		t.m[key] = f
	}
	f.n++
	f.last = now
	if over := f.n - free; over > 0 {
		d := t.max
		if over <= 30 {
			d = min(t.base<<(over-1), t.max)
		}
		if until := now.Add(d); until.After(f.until) {
			f.until = until
		}
	}
}

// reset forgets key (after a successful login).
func (t *throttle) reset(key string) {
	t.mu.Lock()
	delete(t.m, key)
	t.mu.Unlock()
}

func (t *throttle) evictLocked(now time.Time) {
	for k, f := range t.m {
		if now.Sub(f.last) > t.max && !now.Before(f.until) {
			delete(t.m, k)
		}
	}
	for k := range t.m {
		if len(t.m) < maxThrottleKeys {
			return
		}
		delete(t.m, k)
	}
}

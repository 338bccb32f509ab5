package ws

import "sync"

// inflight counts the password checks each key (a client address or a
// user, of a tenant) has running or waiting in the bcrypt pool, so that one
// key cannot take more than its share of a tenant's queue: a flood of
// logins from one address, right or wrong, is answered 429 while other
// addresses' logins still find room (Options.BcryptPerAddress,
// BcryptPerUser). Keys exist only while they have checks in flight, so the
// map is bounded by the requests in progress.
type inflight struct {
	mu sync.Mutex
	m  map[string]int
}

func newInflight() *inflight { return &inflight{m: map[string]int{}} }

// take counts one more check for key, unless key already has limit;
// call give after the check when it returns true.
func (f *inflight) take(key string, limit int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m[key] >= limit {
		return false
	}
	f.m[key]++
	return true
}

// give ends a check counted by take.
func (f *inflight) give(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m[key] <= 1 {
		delete(f.m, key)
		return
	}
	f.m[key]--
}

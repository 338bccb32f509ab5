package memory

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

type tenantSessions struct {
	byID   map[string]cluster.Session
	byUser map[string]map[string]struct{}
}

type sessions struct {
	now     func() time.Time
	mu      sync.Mutex
	seq     uint64 // the last login's Session.Seq
	tenants map[string]*tenantSessions
	nodes   map[string]time.Time // heartbeat deadline; zero = no expiry
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{now: now, tenants: map[string]*tenantSessions{}, nodes: map[string]time.Time{}}
}

func (s *sessions) tenant(t string) *tenantSessions {
	ts := s.tenants[t]
	if ts == nil {
		ts = &tenantSessions{byID: map[string]cluster.Session{}, byUser: map[string]map[string]struct{}{}}
		s.tenants[t] = ts
	}
	return ts
}

// Add registers a socket; first is true for the user's first socket.
func (s *sessions) Add(_ context.Context, sess cluster.Session) (bool, error) {
	if sess.Tenant == "" || sess.ID == "" || sess.User == "" {
		return false, errors.New("memory: add session: tenant, id and user are required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.tenant(sess.Tenant)
	if old, ok := ts.byID[sess.ID]; ok && old.User != sess.User {
		ts.dropFromUser(old.User, old.ID)
	}
	s.seq++
	sess.Seq = s.seq
	ts.byID[sess.ID] = sess
	set := ts.byUser[sess.User]
	if set == nil {
		set = map[string]struct{}{}
		ts.byUser[sess.User] = set
	}
	_, had := set[sess.ID]
	set[sess.ID] = struct{}{}
	return !had && len(set) == 1, nil
}

// dropFromUser removes id from user's set and reports whether the set became
// empty because of it.
func (ts *tenantSessions) dropFromUser(user, id string) bool {
	set := ts.byUser[user]
	if _, ok := set[id]; !ok {
		return false
	}
	delete(set, id)
	if len(set) == 0 {
		delete(ts.byUser, user)
		return true
	}
	return false
}

// Remove unregisters a socket; last is true for the user's last socket.
func (s *sessions) Remove(_ context.Context, tenant, id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.tenants[tenant]
	if ts == nil {
		return false, nil
	}
	sess, ok := ts.byID[id]
	if !ok {
		return false, nil
	}
	delete(ts.byID, id)
	return ts.dropFromUser(sess.User, id), nil
}

// UserSessions lists the sockets of a user, sorted by login time, login
// number (Seq), then id.
func (s *sessions) UserSessions(_ context.Context, tenant, user string) ([]cluster.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.tenants[tenant]
	if ts == nil {
		return nil, nil
	}
	var out []cluster.Session
	for id := range ts.byUser[user] {
		out = append(out, ts.byID[id])
	}
	slices.SortFunc(out, cluster.CompareSessions)
	return out, nil
}

// Heartbeat keeps node's sessions alive for ttl (0 = until the next call).
func (s *sessions) Heartbeat(_ context.Context, node string, ttl time.Duration) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nodes[node] = deadline(now, ttl)
	return nil
}

// Nodes lists the nodes with a live heartbeat, sorted.
func (s *sessions) Nodes(_ context.Context) ([]string, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for n, d := range s.nodes {
		if !expired(d, now) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Expired removes the sessions of nodes without a live heartbeat and returns
// per tenant the users whose last socket went with them.
func (s *sessions) Expired(_ context.Context, tenants []string) (map[string][]string, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]string{}
	for _, tenant := range tenants {
		if gone := s.expireTenant(tenant, now); len(gone) > 0 {
			out[tenant] = gone
		}
	}
	for n, d := range s.nodes {
		if expired(d, now) {
			delete(s.nodes, n)
		}
	}
	return out, nil
}

// expireTenant removes one tenant's sessions of dead nodes; the caller
// holds mu.
func (s *sessions) expireTenant(tenant string, now time.Time) []string {
	ts := s.tenants[tenant]
	if ts == nil {
		return nil
	}
	var gone []string
	for id, sess := range ts.byID {
		d, alive := s.nodes[sess.Node]
		if alive && !expired(d, now) {
			continue
		}
		delete(ts.byID, id)
		if ts.dropFromUser(sess.User, id) {
			gone = append(gone, sess.User)
		}
	}
	sort.Strings(gone)
	return gone
}

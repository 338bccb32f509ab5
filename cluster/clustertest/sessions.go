package clustertest

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

func sessionCases() []Case {
	return []Case{
		{"sessions/first-last", testSessionsFirstLast},
		{"sessions/login-order", testSessionsLoginOrder},
		{"sessions/concurrent-remove", testSessionsConcurrentRemove},
		{"sessions/tenant-isolation", testSessionsIsolation},
		{"sessions/expired", testSessionsExpired},
		{"sessions/nodes", testSessionsNodes},
	}
}

func add(t *testing.T, s cluster.Sessions, sess cluster.Session) bool {
	t.Helper()
	first, err := s.Add(Ctx(t), sess)
	if err != nil {
		t.Fatalf("Add(%+v): %v", sess, err)
	}
	return first
}

func remove(t *testing.T, s cluster.Sessions, tenant, id string) bool {
	t.Helper()
	last, err := s.Remove(Ctx(t), tenant, id)
	if err != nil {
		t.Fatalf("Remove(%s,%s): %v", tenant, id, err)
	}
	return last
}

func ids(t *testing.T, s cluster.Sessions, tenant, user string) []string {
	t.Helper()
	ss, err := s.UserSessions(Ctx(t), tenant, user)
	if err != nil {
		t.Fatalf("UserSessions: %v", err)
	}
	var out []string
	for _, x := range ss {
		out = append(out, x.ID)
	}
	slices.Sort(out)
	return out
}

func testSessionsFirstLast(t *testing.T, b cluster.Backend) {
	ten, node := Unique("t"), Unique("n")
	if err := b.Sessions.Heartbeat(Ctx(t), node, time.Minute); err != nil {
		t.Fatal(err)
	}
	s1 := cluster.Session{ID: "s1", Tenant: ten, User: "alice", UAType: "desktop", Node: node, TokenHash: "th", LoginAt: 42}
	if !add(t, b.Sessions, s1) {
		t.Fatal("first socket not reported first")
	}
	if add(t, b.Sessions, cluster.Session{ID: "s2", Tenant: ten, User: "alice", Node: node, LoginAt: 43}) {
		t.Fatal("second socket reported first")
	}
	if add(t, b.Sessions, s1) {
		t.Fatal("re-adding a socket reported first")
	}
	ss, err := b.Sessions.UserSessions(Ctx(t), ten, "alice")
	if err != nil || len(ss) != 2 {
		t.Fatalf("UserSessions = %+v, %v; want 2", ss, err)
	}
	i := slices.IndexFunc(ss, func(s cluster.Session) bool { return s.ID == "s1" })
	if i < 0 {
		t.Fatalf("s1 missing from %+v", ss)
	}
	got := ss[i]
	if got.Tenant != ten || got.User != "alice" || got.UAType != "desktop" || got.Node != node || got.LoginAt != 42 || got.TokenHash != "th" {
		t.Fatalf("stored session %+v, want %+v", got, s1)
	}
	if remove(t, b.Sessions, ten, "s1") {
		t.Fatal("removing one of two sockets reported last")
	}
	if !remove(t, b.Sessions, ten, "s2") {
		t.Fatal("removing the last socket not reported last")
	}
	if remove(t, b.Sessions, ten, "s2") {
		t.Fatal("removing a removed socket reported last again")
	}
	if remove(t, b.Sessions, ten, "never") {
		t.Fatal("removing an unknown socket reported last")
	}
	if got := ids(t, b.Sessions, ten, "alice"); len(got) != 0 {
		t.Fatalf("sessions left: %v", got)
	}
	if !add(t, b.Sessions, s1) {
		t.Fatal("socket after logout not reported first")
	}
}

// testSessionsLoginOrder: every Add numbers its login above the earlier
// ones of the tenant, whatever the sessions' LoginAt (the nodes' clocks):
// the order in which logins reached the store, which take-over uses.
func testSessionsLoginOrder(t *testing.T, b cluster.Backend) {
	ten, node := Unique("t"), Unique("n")
	if err := b.Sessions.Heartbeat(Ctx(t), node, time.Minute); err != nil {
		t.Fatal(err)
	}
	seqOf := func(user, id string) uint64 {
		t.Helper()
		ss, err := b.Sessions.UserSessions(Ctx(t), ten, user)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ss {
			if s.ID == id {
				return s.Seq
			}
		}
		t.Fatalf("session %s of %s missing from %+v", id, user, ss)
		return 0
	}
	// The second login carries an earlier clock than the first.
	add(t, b.Sessions, cluster.Session{ID: "a1", Tenant: ten, User: "alice", UAType: "desktop", Node: node, LoginAt: 50, Seq: 999})
	add(t, b.Sessions, cluster.Session{ID: "a2", Tenant: ten, User: "alice", UAType: "desktop", Node: node, LoginAt: 40})
	add(t, b.Sessions, cluster.Session{ID: "b1", Tenant: ten, User: "bob", Node: node, LoginAt: 60})
	a1, a2, b1 := seqOf("alice", "a1"), seqOf("alice", "a2"), seqOf("bob", "b1")
	if a1 == 0 || a2 <= a1 || b1 <= a2 {
		t.Fatalf("login numbers a1 %d, a2 %d, b1 %d: want 0 < a1 < a2 < b1", a1, a2, b1)
	}
	// A socket's login again (a re-login) is a new login.
	add(t, b.Sessions, cluster.Session{ID: "a1", Tenant: ten, User: "alice", UAType: "desktop", Node: node, LoginAt: 50})
	if again := seqOf("alice", "a1"); again <= b1 {
		t.Fatalf("a1 logged in again got %d, not above b1's %d", again, b1)
	}
}

func testSessionsConcurrentRemove(t *testing.T, b cluster.Backend) {
	ten, node := Unique("t"), Unique("n")
	if err := b.Sessions.Heartbeat(Ctx(t), node, time.Minute); err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		const n = 8
		var firsts atomic.Int32
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				f, err := b.Sessions.Add(Ctx(t), cluster.Session{ID: fmt.Sprintf("r%d-s%d", round, i), Tenant: ten, User: "bob", Node: node})
				if err != nil {
					t.Error(err)
				}
				if f {
					firsts.Add(1)
				}
			})
		}
		wg.Wait()
		if firsts.Load() != 1 {
			t.Fatalf("round %d: %d concurrent adds reported first, want 1", round, firsts.Load())
		}
		var lasts atomic.Int32
		for i := range n {
			wg.Go(func() {
				l, err := b.Sessions.Remove(Ctx(t), ten, fmt.Sprintf("r%d-s%d", round, i))
				if err != nil {
					t.Error(err)
				}
				if l {
					lasts.Add(1)
				}
			})
		}
		wg.Wait()
		if lasts.Load() != 1 {
			t.Fatalf("round %d: %d concurrent removes reported last, want 1", round, lasts.Load())
		}
	}
}

func testSessionsIsolation(t *testing.T, b cluster.Backend) {
	ta, tb, node := Unique("ta"), Unique("tb"), Unique("n")
	if err := b.Sessions.Heartbeat(Ctx(t), node, time.Minute); err != nil {
		t.Fatal(err)
	}
	if !add(t, b.Sessions, cluster.Session{ID: "s1", Tenant: ta, User: "alice", Node: node}) {
		t.Fatal("tenant A: not first")
	}
	if !add(t, b.Sessions, cluster.Session{ID: "s1", Tenant: tb, User: "alice", Node: node}) {
		t.Fatal("tenant B: same user and socket id not first in its own tenant")
	}
	if !remove(t, b.Sessions, ta, "s1") {
		t.Fatal("tenant A: not last")
	}
	if got := ids(t, b.Sessions, tb, "alice"); !slices.Equal(got, []string{"s1"}) {
		t.Fatalf("tenant B sessions after removing A's = %v", got)
	}
	if got := ids(t, b.Sessions, ta, "alice"); len(got) != 0 {
		t.Fatalf("tenant A sessions = %v", got)
	}
}

// testSessionsExpired: node A stops heartbeating; two callers run Expired
// over two tenants concurrently and repeatedly; each user whose sockets
// were all on A is reported exactly once in total, under its own tenant,
// others never.
func testSessionsExpired(t *testing.T, b cluster.Backend) {
	ten, ten2, na, nb := Unique("t"), Unique("t2"), Unique("na"), Unique("nb")
	both := []string{ten, Unique("empty"), ten2}
	ctx := Ctx(t)
	if err := b.Sessions.Heartbeat(ctx, na, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := b.Sessions.Heartbeat(ctx, nb, time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, s := range []cluster.Session{
		{ID: "a1", User: "u1", Node: na}, {ID: "a2", User: "u1", Node: na},
		{ID: "a3", User: "u2", Node: na}, {ID: "b1", User: "u2", Node: nb},
		{ID: "b2", User: "u3", Node: nb},
	} {
		s.Tenant = ten
		add(t, b.Sessions, s)
	}
	add(t, b.Sessions, cluster.Session{ID: "a1", User: "u1", Node: na, Tenant: ten2})
	add(t, b.Sessions, cluster.Session{ID: "a9", User: "u9", Node: na, Tenant: ten2})
	add(t, b.Sessions, cluster.Session{ID: "b9", User: "u9", Node: nb, Tenant: ten2})
	if gone, err := b.Sessions.Expired(ctx, both); err != nil || len(gone) != 0 {
		t.Fatalf("Expired while every node is alive = %v, %v", gone, err)
	}
	var mu sync.Mutex
	count := map[string]int{}
	expire := func() {
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				gone, err := b.Sessions.Expired(ctx, both)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				for tenant, users := range gone {
					for _, u := range users {
						count[tenant+"/"+u]++
					}
				}
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	Eventually(t, Bound, "u1 reported gone", func() bool {
		expire()
		mu.Lock()
		defer mu.Unlock()
		return count[ten+"/u1"] > 0 && count[ten2+"/u1"] > 0
	})
	expire()
	mu.Lock()
	defer mu.Unlock()
	if count[ten+"/u1"] != 1 || count[ten2+"/u1"] != 1 || len(count) != 2 {
		t.Fatalf("users reported gone: %v, want u1 of each tenant exactly once", count)
	}
	if got := ids(t, b.Sessions, ten2, "u9"); !slices.Equal(got, []string{"b9"}) {
		t.Fatalf("u9 sessions in the second tenant = %v, want [b9]", got)
	}
	if got := ids(t, b.Sessions, ten, "u2"); !slices.Equal(got, []string{"b1"}) {
		t.Fatalf("u2 sessions = %v, want [b1]", got)
	}
	if got := ids(t, b.Sessions, ten, "u1"); len(got) != 0 {
		t.Fatalf("u1 sessions = %v, want none", got)
	}
	if !remove(t, b.Sessions, ten, "b1") {
		t.Fatal("u2's remaining socket not reported last")
	}
}

// testSessionsNodes: Nodes lists the nodes with a live heartbeat (other
// cases may add their own nodes meanwhile), and drops one that stops.
func testSessionsNodes(t *testing.T, b cluster.Backend) {
	ctx := Ctx(t)
	na, nb := Unique("na"), Unique("nb")
	has := func(nodes []string, n string) bool { return slices.Contains(nodes, n) }
	if nodes, err := b.Sessions.Nodes(ctx); err != nil || has(nodes, na) || has(nodes, nb) {
		t.Fatalf("Nodes before any heartbeat = %v, %v", nodes, err)
	}
	if err := b.Sessions.Heartbeat(ctx, na, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.Sessions.Heartbeat(ctx, nb, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	nodes, err := b.Sessions.Nodes(ctx)
	if err != nil || !has(nodes, na) || !has(nodes, nb) || !slices.IsSorted(nodes) {
		t.Fatalf("Nodes after two heartbeats = %v, %v; want both, sorted", nodes, err)
	}
	Eventually(t, Bound, "the node that stopped heartbeating leaves the set", func() bool {
		nodes, err = b.Sessions.Nodes(ctx)
		return err == nil && !has(nodes, nb)
	})
	if !has(nodes, na) {
		t.Fatalf("Nodes = %v: the live node went too", nodes)
	}
}

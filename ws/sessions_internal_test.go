package ws

import (
	"slices"
	"testing"

	"github.com/ctiws/ctiws/cluster"
)

// TestTakenOver: a login takes over the user's older sockets of its uaType
// and never one that logged in after it, even when that one is already in
// the list it read (two logins racing on two nodes).
func TestTakenOver(t *testing.T) {
	sess := func(id, ua string, seq uint64) cluster.Session {
		return cluster.Session{ID: id, UAType: ua, Seq: seq}
	}
	for _, tc := range []struct {
		name     string
		sessions []cluster.Session
		want     []string
	}{
		{"the older desktop", []cluster.Session{sess("old", "desktop", 1), sess("me", "desktop", 2)}, []string{"old"}},
		{"a later login read in the race", []cluster.Session{sess("me", "desktop", 1), sess("fresh", "desktop", 2)}, nil},
		{"older taken, later kept", []cluster.Session{sess("old", "desktop", 3), sess("me", "desktop", 5), sess("fresh", "desktop", 9)}, []string{"old"}},
		{"another uaType", []cluster.Session{sess("phone", "mobile", 1), sess("me", "desktop", 2)}, nil},
		{"alone", []cluster.Session{sess("me", "desktop", 4)}, nil},
		{"an older build's session (no number)", []cluster.Session{sess("legacy", "desktop", 0), sess("me", "desktop", 7)}, []string{"legacy"}},
		{"no numbers at all (this node's sockets)", []cluster.Session{sess("a", "desktop", 0), sess("me", "desktop", 0), sess("b", "desktop", 0)}, []string{"a", "b"}},
		{"own session missing (the store lost it)", []cluster.Session{sess("a", "desktop", 3)}, []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, s := range takenOver(tc.sessions, "me", "desktop") {
				got = append(got, s.ID)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("taken over %v, want %v", got, tc.want)
			}
		})
	}
}

// TestOverCap: past the cap the oldest logins close, oldest by the store's
// login numbers when every session has one (the nodes' clocks may
// disagree), by the sessions' order otherwise; never the new login.
func TestOverCap(t *testing.T) {
	sess := func(id string, at int64, seq uint64) cluster.Session {
		return cluster.Session{ID: id, LoginAt: at, Seq: seq}
	}
	for _, tc := range []struct {
		name     string
		sessions []cluster.Session // as UserSessions sorts them
		limit    int
		want     []string
		total    int
	}{
		{"under the cap", []cluster.Session{sess("a", 1, 1), sess("me", 2, 2)}, 3, nil, 2},
		{"at the cap", []cluster.Session{sess("a", 1, 1), sess("b", 1, 2), sess("me", 2, 3)}, 3, nil, 3},
		{"one over", []cluster.Session{sess("a", 1, 1), sess("b", 1, 2), sess("c", 2, 3), sess("me", 2, 4)}, 3, []string{"a"}, 4},
		{"a slow clock: the login order wins", []cluster.Session{sess("late", 5, 9), sess("a", 10, 1), sess("b", 11, 2), sess("me", 12, 10)}, 3, []string{"a"}, 4},
		{"a later login already read", []cluster.Session{sess("a", 1, 1), sess("me", 1, 2), sess("fresh", 1, 3)}, 2, []string{"a"}, 3},
		{"unnumbered: the sessions' order", []cluster.Session{sess("a", 1, 0), sess("b", 2, 5), sess("me", 3, 6)}, 2, []string{"a"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			closed, total := overCap(tc.sessions, "me", tc.limit)
			var got []string
			for _, s := range closed {
				got = append(got, s.ID)
			}
			if !slices.Equal(got, tc.want) || total != tc.total {
				t.Fatalf("closed %v of %d, want %v of %d", got, total, tc.want, tc.total)
			}
		})
	}
}

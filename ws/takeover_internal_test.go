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

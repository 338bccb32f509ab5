package redisserver

import (
	"context"
	"testing"
	"time"
)

func TestStartRestartStop(t *testing.T) {
	s := Start(t)
	if r, err := s.Do("SET k v"); err != nil || r != "+OK" {
		t.Fatalf("SET = %q, %v", r, err)
	}
	s.Restart(50 * time.Millisecond)
	if r, err := s.Do("GET k"); err != nil || r != "$-1" {
		t.Fatalf("GET after restart = %q, %v (want nil: no persistence)", r, err)
	}
	s.Stop()
	if _, err := s.Do("PING"); err == nil {
		t.Fatal("server still answers after Stop")
	}
	s.Stop()
}

// TestStartCluster: three masters with a replica each serve every slot;
// killing the master of a key promotes its replica.
func TestStartCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts six redis-servers")
	}
	c := StartCluster(t, 3, 1, time.Second)
	ctx := context.Background()
	owners := map[*Server]bool{}
	for _, k := range []string{"{a}", "{b}", "{c}", "{d}", "{e}"} {
		m, err := c.MasterOf(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		owners[m] = true
	}
	if len(owners) < 2 {
		t.Fatalf("5 keys on %d master(s)", len(owners))
	}
	m, err := c.MasterOf(ctx, "{a}")
	if err != nil {
		t.Fatal(err)
	}
	m.Stop()
	deadline := time.Now().Add(15 * time.Second)
	for {
		now, err := c.MasterOf(ctx, "{a}")
		if err == nil && now != m {
			if r, err := now.Do("ROLE"); err != nil || r != "*3" { // a master's ROLE has three fields, a replica's five
				t.Fatalf("ROLE of the new master = %q, %v", r, err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot of {a} still on the killed master after 15s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

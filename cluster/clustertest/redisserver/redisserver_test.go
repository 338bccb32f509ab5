package redisserver

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
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

// A port taken between freePort and redis-server's bind (here on purpose,
// in CI by another test's ephemeral port) moves the server to new ports
// instead of failing the test: the client port, and a cluster node's bus
// port.
func TestStartNewPortTaken(t *testing.T) {
	for _, bus := range []bool{false, true} {
		name := map[bool]string{false: "port", true: "cluster bus port"}[bus]
		t.Run(name, func(t *testing.T) {
			taken, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer taken.Close()
			port := taken.Addr().(*net.TCPAddr).Port
			s := newServer(t)
			if bus {
				s.args = []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"}
				s.busPort = port
			} else {
				s.port = port
			}
			s.startNew()
			if s.port == port || s.busPort == port {
				t.Fatalf("still on the taken port %d (port %d, bus %d)", port, s.port, s.busPort)
			}
			if r, err := s.Do("PING"); err != nil || r != "+PONG" {
				t.Fatalf("PING = %q, %v", r, err)
			}
		})
	}
}

// start judges a failure by its own log lines: an earlier attempt's
// "Address already in use" in the same log does not make a different
// failure look like a taken port (which startNew would retry).
func TestStartErrorFromItsOwnLog(t *testing.T) {
	s := newServer(t)
	if err := os.WriteFile(filepath.Join(s.dir, "redis.log"), []byte("# Could not create server TCP listening socket: bind: Address already in use\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.args = []string{"--no-such-directive", "yes"}
	err := s.start()
	if err == nil {
		s.Stop()
		t.Fatal("redis-server started with an unknown directive")
	}
	if errors.Is(err, errAddrInUse) {
		t.Fatalf("start = %v: an earlier attempt's log line taken for this failure", err)
	}
}

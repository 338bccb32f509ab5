package ownership

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

// TestMembersNeverAlone: once the node list has been read, a failing or
// hanging read keeps the last view; it never shrinks to "this node alone"
// (which would make the node take every lease).
func TestMembersNeverAlone(t *testing.T) {
	hang := func(ctx context.Context) ([]string, error) { <-ctx.Done(); return nil, ctx.Err() }
	fail := func(context.Context) ([]string, error) { return nil, errors.New("connection refused") }
	three := func(context.Context) ([]string, error) { return []string{"a", "b", "c"}, nil }
	for _, tc := range []struct {
		name  string
		reads []func(context.Context) ([]string, error)
		want  int
	}{
		{"never read", []func(context.Context) ([]string, error){fail}, 0},
		{"error after a read", []func(context.Context) ([]string, error){three, fail}, 3},
		{"timeout after a read", []func(context.Context) ([]string, error){three, hang}, 3},
		{"errors and timeouts in a row", []func(context.Context) ([]string, error){three, fail, hang, fail}, 3},
		{"empty list counts this node", []func(context.Context) ([]string, error){func(context.Context) ([]string, error) { return nil, nil }}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := 0
			m := &members{self: "a", every: 50 * time.Millisecond, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
				list: func(ctx context.Context) ([]string, error) { f := tc.reads[i]; i++; return f(ctx) }}
			for range tc.reads {
				_ = m.refresh(context.Background())
			}
			if got := m.count(); got != tc.want {
				t.Fatalf("count = %d, want %d", got, tc.want)
			}
			spread := &leaseSpread{owned: func() int { return 40 }, tenants: func() int { return 100 }, nodes: m.count}
			// ceil(100/3)+1 = 35: a node with 40 leases takes no more; with
			// an unknown count it takes none at all; alone it takes all.
			if got := spread.mayAcquire(); got != (tc.want == 1) {
				t.Fatalf("mayAcquire with 40 of 100 leases and %d nodes = %v", tc.want, got)
			}
		})
	}
}

// TestMembersAlive: a node seen and then gone is dead at once (its leases
// are taken over); a node never seen may have just started and is alive; a
// node that lost its connection is dead even while its heartbeat lasts.
func TestMembersAlive(t *testing.T) {
	lists := [][]string{{"a", "b", "c"}, {"a", "b", "c"}}
	conns := []Connections{{"s1", map[string]bool{"a": true, "b": true, "c": true}}, {"s1", map[string]bool{"a": true, "b": true}}}
	i := 0
	m := &members{self: "a", every: time.Second, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		list:      func(context.Context) ([]string, error) { return lists[i], nil },
		connected: func(context.Context) (Connections, error) { return conns[i], nil }}
	if _, err := m.alive(context.Background(), "b"); err == nil {
		t.Fatal("alive before any read: no error")
	}
	for i = range lists {
		if err := m.refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		node string
		want bool
	}{{"a", true}, {"b", true}, {"c", false}, {"new", true}} {
		if got, err := m.alive(context.Background(), tc.node); err != nil || got != tc.want {
			t.Errorf("alive(%s) = %v, %v; want %v", tc.node, got, err, tc.want)
		}
	}
	if m.count() != 2 {
		t.Errorf("count = %d, want 2 (c's connection is gone)", m.count())
	}
}

// TestMembersNewServer: after a failover (or a restart) the new Redis
// server lists only the nodes that have reconnected so far. A node seen on
// the old server but not yet on the new one is alive (its leases are not
// taken from it); it counts as gone only once seen on the new server and
// then missing from it.
func TestMembersNewServer(t *testing.T) {
	two := map[string]bool{"a": true, "b": true}
	reads := []Connections{
		{"old", two},
		{"promoted", map[string]bool{"a": true}}, // b has not reconnected yet
		{"promoted", two},
		{"promoted", map[string]bool{"a": true}}, // now b is gone
	}
	want := []bool{true, true, true, false}
	i := 0
	m := &members{self: "a", every: time.Second, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		list:      func(context.Context) ([]string, error) { return []string{"a", "b"}, nil },
		connected: func(context.Context) (Connections, error) { return reads[i], nil }}
	for i = range reads {
		if err := m.refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		alive, err := m.alive(context.Background(), "b")
		if err != nil || alive != want[i] {
			t.Errorf("read %d (server %s, connected %v): alive(b) = %v, %v; want %v", i, reads[i].Server, reads[i].Nodes, alive, err, want[i])
		}
		if n := m.count(); n != map[bool]int{true: 2, false: 1}[want[i]] {
			t.Errorf("read %d: count = %d", i, n)
		}
	}
}

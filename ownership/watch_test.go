package ownership

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

// TestLeaseWatch: a waiting owner is woken when its lease's holder dies,
// when a read finds the lease free, held by this node or by a dead node,
// and when the Redis server changes; never while a live node holds it.
func TestLeaseWatch(t *testing.T) {
	var mu sync.Mutex
	holders := map[string]string{"a": "n2", "b": "n2", "c": "n3", "d": "n2"}
	dead := map[string]bool{}
	server, reads := "s1", 0
	w := &leaseWatch{self: "n1", every: time.Hour, readEvery: time.Hour, fullEvery: time.Hour,
		owners: func(_ context.Context, tenants []string) ([]cluster.Lease, error) {
			mu.Lock()
			defer mu.Unlock()
			reads++
			out := make([]cluster.Lease, len(tenants))
			for i, ten := range tenants {
				out[i] = cluster.Lease{Tenant: ten, Node: holders[ten]}
			}
			return out, nil
		},
		alive: func(_ context.Context, node string) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			return !dead[node], nil
		},
		server: func() string { mu.Lock(); defer mu.Unlock(); return server },
	}
	ctx := t.Context()
	woken := make(chan string, 8)
	for _, ten := range []string{"a", "b", "c", "d"} {
		go func() {
			w.wait(ctx, ten, "n2", nil)
			woken <- ten
		}()
	}
	waitFor := func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			w.mu.Lock()
			got := len(w.watching)
			w.mu.Unlock()
			if got == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d owners waiting, want %d", got, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	expect := func(want ...string) {
		t.Helper()
		got := map[string]bool{}
		for range want {
			select {
			case ten := <-woken:
				got[ten] = true
			case <-time.After(5 * time.Second):
				t.Fatalf("woken %v, want %v", got, want)
			}
		}
		for _, ten := range want {
			if !got[ten] {
				t.Fatalf("woken %v, want %v", got, want)
			}
		}
		select {
		case ten := <-woken:
			t.Fatalf("%s woken too, want only %v", ten, want)
		case <-time.After(20 * time.Millisecond):
		}
	}
	waitFor(4)
	// First check: a read; "a" handed back, "c" held by n3 (alive).
	mu.Lock()
	holders["a"] = ""
	mu.Unlock()
	w.check(ctx)
	w.reads.Wait()
	expect("a")
	// No read due, n3 dies: its tenant's owner is woken without a read.
	mu.Lock()
	dead["n3"] = true
	mu.Unlock()
	w.check(ctx)
	expect("c")
	if reads != 1 {
		t.Fatalf("%d reads, want 1 (one per readEvery)", reads)
	}
	// The server changes (a failover): every owner tries again.
	mu.Lock()
	server = "s2"
	mu.Unlock()
	w.check(ctx)
	expect("b", "d")
	waitFor(0)
}

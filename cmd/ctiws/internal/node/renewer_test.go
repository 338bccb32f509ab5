package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

// fakeOwnership answers RenewAll from a script and counts the calls.
type fakeOwnership struct {
	cluster.Ownership
	mu    sync.Mutex
	calls int
	sizes []int
	reply func(leases []cluster.Lease) ([]bool, error)
}

func (f *fakeOwnership) RenewAll(_ context.Context, leases []cluster.Lease, _ time.Duration) ([]bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.sizes = append(f.sizes, len(leases))
	return f.reply(leases)
}

// TestRenewerBatches: all of a node's leases are renewed by one call per
// interval; a lease is given up when the backend says it is gone, or when
// renewals failed for two thirds of the TTL, never for one failed batch.
func TestRenewerBatches(t *testing.T) {
	down := errors.New("i/o timeout")
	for _, tc := range []struct {
		name    string
		reply   func(leases []cluster.Lease) ([]bool, error)
		overdue bool // the last good renewal is older than 2/3 TTL
		lost    []string
	}{
		{"all held", func(l []cluster.Lease) ([]bool, error) { return []bool{true, true, true}, nil }, false, nil},
		{"one gone", func(l []cluster.Lease) ([]bool, error) {
			out := make([]bool, len(l))
			for i := range l {
				out[i] = l[i].Tenant != "t2"
			}
			return out, nil
		}, false, []string{"t2"}},
		{"a failed batch costs nothing", func([]cluster.Lease) ([]bool, error) { return nil, down }, false, nil},
		{"failing for 2/3 of the TTL gives every lease up", func([]cluster.Lease) ([]bool, error) { return nil, down }, true, []string{"t1", "t2", "t3"}},
		{"an unreachable shard costs only its leases", func(l []cluster.Lease) ([]bool, error) {
			held, failed := make([]bool, len(l)), make([]error, len(l))
			for i := range l {
				held[i] = l[i].Tenant != "t2"
				if l[i].Tenant == "t2" {
					failed[i] = down
				}
			}
			return held, &cluster.RenewErrors{Failed: failed}
		}, true, []string{"t2"}},
		{"a partial answer is a lost lease where it says so", func(l []cluster.Lease) ([]bool, error) {
			held, failed := make([]bool, len(l)), make([]error, len(l))
			for i := range l {
				held[i] = l[i].Tenant == "t1"
				if l[i].Tenant == "t3" {
					failed[i] = down
				}
			}
			return held, &cluster.RenewErrors{Failed: failed}
		}, false, []string{"t2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeOwnership{reply: tc.reply}
			r := &Renewer{Ownership: f, TTL: 300 * time.Millisecond, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			ctx := t.Context()
			var mu sync.Mutex
			lost := map[string]bool{}
			for _, id := range []string{"t1", "t2", "t3"} {
				r.Keep(ctx, cluster.Lease{Tenant: id, Node: "n", Epoch: 1}, func(error) { mu.Lock(); lost[id] = true; mu.Unlock() })
			}
			if tc.overdue {
				r.mu.Lock()
				for _, h := range r.held {
					h.lastOK = time.Now().Add(-time.Second)
				}
				r.mu.Unlock()
			}
			r.RenewOnce(ctx)
			mu.Lock()
			defer mu.Unlock()
			if len(lost) != len(tc.lost) {
				t.Fatalf("lost %v, want %v", lost, tc.lost)
			}
			for _, id := range tc.lost {
				if !lost[id] {
					t.Fatalf("lost %v, want %v", lost, tc.lost)
				}
			}
			if r.Held() != 3-len(tc.lost) {
				t.Fatalf("Held = %d after losing %d of 3", r.Held(), len(tc.lost))
			}
			if f.sizes[0] != 3 {
				t.Fatalf("first batch renewed %d leases, want all 3 at once", f.sizes[0])
			}
		})
	}
}

// TestRenewerForgetsEndedTerms: a lease whose term ended is not renewed.
func TestRenewerForgetsEndedTerms(t *testing.T) {
	f := &fakeOwnership{reply: func(l []cluster.Lease) ([]bool, error) { return make([]bool, len(l)), nil }}
	r := &Renewer{Ownership: f, TTL: time.Second, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithCancel(t.Context())
	r.Keep(ctx, cluster.Lease{Tenant: "t1"}, func(error) { t.Error("an ended term was told it lost its lease") })
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for r.Held() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	r.RenewOnce(t.Context())
	if f.calls != 0 {
		t.Fatalf("RenewAll called %d times for no lease", f.calls)
	}
}

// TestStartGate: a burst is allowed, then starts wait for the rate; a
// token given back is there for the next start.
func TestStartGate(t *testing.T) {
	g := NewStartGate(1, 2)
	ctx := t.Context()
	if !g.Take(ctx, 0) || !g.Take(ctx, 0) {
		t.Fatal("the burst of 2 was not allowed")
	}
	if g.Take(ctx, 10*time.Millisecond) {
		t.Fatal("a third start within the burst's second was allowed (rate 1/s)")
	}
	g.Put()
	if !g.Take(ctx, 0) {
		t.Fatal("a token given back was not there")
	}
	go g.Run(ctx)
	if !g.Take(ctx, 5*time.Second) {
		t.Fatal("no token refilled within 5 s at 1/s")
	}
}

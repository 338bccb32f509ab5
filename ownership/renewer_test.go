package ownership

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
// (TestRenewerStepsDownInTime times the give-up.)
func TestRenewerBatches(t *testing.T) {
	down := errors.New("i/o timeout")
	for _, tc := range []struct {
		name    string
		reply   func(leases []cluster.Lease) ([]bool, error)
		overdue bool // the lease was granted more than 2/3 TTL ago
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
		}, false, nil},
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
			// A TTL long enough that no deadline passes during the test
			// on a loaded machine (a failing batch retries for 1 s).
			r := &Renewer{Ownership: f, TTL: 3 * time.Second, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			ctx := t.Context()
			var mu sync.Mutex
			lost := map[string]bool{}
			sent := time.Now()
			if tc.overdue {
				sent = sent.Add(-r.TTL)
			}
			for _, id := range []string{"t1", "t2", "t3"} {
				r.Keep(ctx, cluster.Lease{Tenant: id, Node: "n", Epoch: 1}, sent, func(error) { mu.Lock(); lost[id] = true; mu.Unlock() })
			}
			r.RenewOnce(ctx)
			// An overdue lease is given up by its timer, at once.
			for deadline := time.Now().Add(5 * time.Second); tc.overdue && r.Held() > 3-len(tc.lost) && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
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
			if len(f.sizes) > 0 && f.sizes[0] != 3 {
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
	r.Keep(ctx, cluster.Lease{Tenant: "t1"}, time.Now(), func(error) { t.Error("an ended term was told it lost its lease") })
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

// TestRenewerStepsDownInTime: an owner whose renewals stop being answered
// is told to step down two thirds of the TTL after it sent its last
// successful renewal, not at the end of the batch that noticed (a failing
// batch retries for a whole interval) and not counted from when a slow
// answer came back: a third of the TTL before Redis, which started the TTL
// when it ran that renewal, lets the lease expire and another node take it.
func TestRenewerStepsDownInTime(t *testing.T) {
	const ttl = 3 * time.Second
	var (
		mu        sync.Mutex
		firstSent time.Time
	)
	renew := func(ctx context.Context, _ []cluster.Lease) ([]bool, error) {
		mu.Lock()
		first := firstSent.IsZero()
		if first {
			firstSent = time.Now()
		}
		mu.Unlock()
		if !first {
			<-ctx.Done() // Redis is gone
			return nil, ctx.Err()
		}
		// Redis renewed the lease at once; the answer took 480 ms.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(480 * time.Millisecond):
			return []bool{true}, nil
		}
	}
	r := &Renewer{Ownership: funcOwnership{renew: renew}, TTL: ttl, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx := t.Context()
	lostAt := make(chan time.Time, 1)
	r.Keep(ctx, cluster.Lease{Tenant: "t1", Node: "n", Epoch: 1}, time.Now(), func(error) { lostAt <- time.Now() })
	go r.Run(ctx)
	var at time.Time
	select {
	case at = <-lostAt:
	case <-time.After(3 * ttl):
		t.Fatal("the lease was never given up")
	}
	mu.Lock()
	defer mu.Unlock()
	if firstSent.IsZero() {
		t.Fatal("no renewal was sent before the lease was given up")
	}
	// The bound: StepDown after the send. The slack is for timers on a
	// loaded machine; it stays well inside the third of the TTL left.
	stepDown, slack := r.StepDown(), 400*time.Millisecond
	if got := at.Sub(firstSent); got < stepDown-10*time.Millisecond || got > stepDown+slack {
		t.Fatalf("given up %v after the last successful renewal was sent; want %v (+%v); the lease expires after %v", got, stepDown, slack, ttl)
	}
}

// TestRenewerSlowLink: a renewal round trip that fits the budget (TTL/3:
// the interval between a renewal's send and the step-down deadline of the
// last one) costs no lease, however much longer than half an interval it
// takes; one that does not fit loses the lease at its step-down deadline,
// by the timer, not later.
func TestRenewerSlowLink(t *testing.T) {
	const ttl = 3 * time.Second // interval 1 s, budget 1 s
	for _, tc := range []struct {
		name  string
		rtt   time.Duration
		keeps bool
	}{
		{"600 ms round trip: kept", 600 * time.Millisecond, true},
		{"1.5 s round trip: given up", 1500 * time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			calls := 0
			renew := func(ctx context.Context, l []cluster.Lease) ([]bool, error) {
				mu.Lock()
				calls++
				mu.Unlock()
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(tc.rtt):
					return []bool{true}, nil
				}
			}
			r := &Renewer{Ownership: funcOwnership{renew: renew}, TTL: ttl, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			ctx := t.Context()
			lostAt := make(chan time.Time, 1)
			start := time.Now()
			r.Keep(ctx, cluster.Lease{Tenant: "t1", Node: "n", Epoch: 1}, start, func(error) { lostAt <- time.Now() })
			go r.Run(ctx)
			select {
			case at := <-lostAt:
				if tc.keeps {
					mu.Lock()
					defer mu.Unlock()
					t.Fatalf("given up %v after the start (%d renewals sent) with a %v round trip, within the %v budget", at.Sub(start), calls, tc.rtt, ttl/3)
				}
				// No renewal ever succeeded: the step-down counts from
				// the acquisition.
				if got := at.Sub(start); got > r.StepDown()+400*time.Millisecond {
					t.Fatalf("given up %v after the start, want ≈ %v", got, r.StepDown())
				}
			case <-time.After(2 * ttl):
				if !tc.keeps {
					t.Fatalf("kept for %v with a %v round trip, beyond the %v budget", 2*ttl, tc.rtt, ttl/3)
				}
			}
		})
	}
}

// funcOwnership answers RenewAll with renew, given the attempt's context.
type funcOwnership struct {
	cluster.Ownership
	renew func(ctx context.Context, leases []cluster.Lease) ([]bool, error)
}

func (f funcOwnership) RenewAll(ctx context.Context, leases []cluster.Lease, _ time.Duration) ([]bool, error) {
	return f.renew(ctx, leases)
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

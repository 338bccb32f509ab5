package memory

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

// fakeClock only moves when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newFake(opts ...Option) (*Backend, *fakeClock) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	return New(append([]Option{WithClock(clk.now)}, opts...)...), clk
}

func TestFakeClockTokens(t *testing.T) {
	b, clk := newFake()
	ctx := context.Background()
	tk := b.Cluster().Tokens
	_ = tk.Put(ctx, "t", "u", "h", time.Second)
	_ = tk.Put(ctx, "t", "u", "p", 0)
	clk.add(900 * time.Millisecond)
	if ok, _ := tk.Check(ctx, "t", "u", "h", time.Second); !ok {
		t.Fatal("valid token refused")
	}
	clk.add(900 * time.Millisecond) // 1.8 s after Put, 0.9 s after the slide
	if ok, _ := tk.Check(ctx, "t", "u", "h", time.Second); !ok {
		t.Fatal("slid token refused")
	}
	clk.add(time.Second)
	if ok, _ := tk.Check(ctx, "t", "u", "h", time.Second); ok {
		t.Fatal("expired token accepted")
	}
	clk.add(time.Hour)
	_ = tk.Put(ctx, "t", "u", "x", time.Second) // triggers the sweep
	b.tokens.mu.Lock()
	n := len(b.tokens.m)
	b.tokens.mu.Unlock()
	if n != 2 {
		t.Fatalf("%d tokens stored after the sweep, want 2 (persistent + new)", n)
	}
	if ok, _ := tk.Check(ctx, "t", "u", "p", time.Second); !ok {
		t.Fatal("persistent token expired")
	}
}

func TestFakeClockLeaseAndHeartbeat(t *testing.T) {
	b, clk := newFake()
	ctx := context.Background()
	cb := b.Cluster()
	l, ok, _ := cb.Ownership.Acquire(ctx, "t", "a", time.Second)
	if !ok || l.Epoch != 1 {
		t.Fatalf("acquire = %+v %v", l, ok)
	}
	clk.add(999 * time.Millisecond)
	if _, ok, _ := cb.Ownership.Acquire(ctx, "t", "b", time.Second); ok {
		t.Fatal("lease taken before expiry")
	}
	clk.add(time.Millisecond)
	l2, ok, _ := cb.Ownership.Acquire(ctx, "t", "b", time.Second)
	if !ok || l2.Epoch != 2 {
		t.Fatalf("takeover = %+v %v", l2, ok)
	}
	_ = cb.Sessions.Heartbeat(ctx, "n", time.Second)
	_, _ = cb.Sessions.Add(ctx, cluster.Session{ID: "s", Tenant: "t", User: "u", Node: "n"})
	if gone, _ := cb.Sessions.Expired(ctx, []string{"t"}); len(gone) != 0 {
		t.Fatalf("gone too early: %v", gone)
	}
	clk.add(time.Second)
	if gone, _ := cb.Sessions.Expired(ctx, []string{"t"}); len(gone["t"]) != 1 || gone["t"][0] != "u" {
		t.Fatalf("gone = %v, want [u]", gone)
	}
}

// TestOverflowResync: a stuck subscriber loses events but gets one resync,
// in order, and the publisher never blocks.
func TestOverflowResync(t *testing.T) {
	b := New(WithQueueSize(4))
	defer b.Close()
	cb := b.Cluster()
	ctx := context.Background()
	release := make(chan struct{})
	var mu sync.Mutex
	var got []cluster.Event
	first := true
	err := cb.Bus.Subscribe(ctx, "t", cluster.Each(func(ev cluster.Event) {
		if first {
			first = false
			<-release
		}
		mu.Lock()
		got = append(got, ev)
		mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	_ = cb.Bus.Publish(ctx, cluster.Event{Tenant: "t", Name: "e0"})
	time.Sleep(50 * time.Millisecond) // e0 is now inside fn
	for i := 1; i <= 20; i++ {
		_ = cb.Bus.Publish(ctx, cluster.Event{Tenant: "t", Name: "e"})
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue not drained: %d events", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = cb.Bus.Publish(ctx, cluster.Event{Tenant: "t", Name: "after"})
	for {
		mu.Lock()
		n := len(got)
		last := ""
		if n > 0 {
			last = got[n-1].Name
		}
		mu.Unlock()
		if last == "after" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after not delivered; got %d events", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	// e0, 4 queued, resync, after
	names := []string{}
	for _, ev := range got {
		names = append(names, ev.Name)
	}
	want := []string{"e0", "e", "e", "e", "e", cluster.EvResync, "after"}
	if len(names) != len(want) {
		t.Fatalf("got %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("got %v, want %v", names, want)
		}
	}
	if st := b.Stats(); st.Dropped != 16 || st.Resyncs != 1 {
		t.Fatalf("stats %+v, want 16 dropped, 1 resync", st)
	}
}

func TestCloseStopsConsumers(t *testing.T) {
	b := New()
	done := make(chan error)
	go func() {
		done <- b.Cluster().Commands.Consume(context.Background(), "t", "n", func(context.Context, cluster.Command) error { return nil })
	}()
	time.Sleep(20 * time.Millisecond)
	_ = b.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Consume did not return after Close")
	}
}

func TestPoisonCommandDropped(t *testing.T) {
	b := New(WithMaxAttempts(3), WithRedeliveryDelay(time.Millisecond))
	defer b.Close()
	cb := b.Cluster()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	calls := 0
	go func() {
		_ = cb.Commands.Consume(ctx, "t", "n", func(context.Context, cluster.Command) error {
			mu.Lock()
			calls++
			mu.Unlock()
			return context.DeadlineExceeded
		})
	}()
	_ = cb.Commands.Send(ctx, cluster.Command{Tenant: "t", Name: "bad"})
	deadline := time.Now().Add(2 * time.Second)
	for b.Stats().DroppedCommands != 1 {
		if time.Now().After(deadline) {
			t.Fatal("poison command not dropped")
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 3 {
		t.Fatalf("%d attempts, want 3", calls)
	}
}

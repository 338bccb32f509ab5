package redisbackend_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/clustertest"
	"github.com/ctiws/ctiws/cluster/clustertest/redisserver"
	redisbackend "github.com/ctiws/ctiws/cluster/redisbackend"
)

var testLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

// subscribed subscribes a collector to the events of a fresh tenant on b.
func subscribed(t *testing.T, b cluster.Backend) (context.Context, string, *clustertest.Collector) {
	t.Helper()
	ctx := clustertest.Ctx(t)
	ten := clustertest.Unique("t")
	c := &clustertest.Collector{}
	if err := b.Bus.Subscribe(ctx, ten, cluster.Each(c.Fn)); err != nil {
		t.Fatal(err)
	}
	return ctx, ten, c
}

func open(t *testing.T, url string, opts ...redisbackend.Option) *redisbackend.Backend {
	t.Helper()
	base := []redisbackend.Option{
		redisbackend.WithLogger(testLog),
		redisbackend.WithClaimIdle(time.Second),
		redisbackend.WithRedeliveryDelay(50 * time.Millisecond),
	}
	b, err := redisbackend.New(url, append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestContract(t *testing.T) {
	srv := redisserver.Start(t)
	clustertest.Run(t, func(t *testing.T) cluster.Backend { return open(t, srv.URL()).Cluster() })
}

func TestBadURL(t *testing.T) {
	if _, err := redisbackend.New("http://nope"); err == nil {
		t.Fatal("a malformed URL was accepted")
	}
}

// TestUnreachable: the constructor succeeds, Ready and operations fail with
// wrapped errors, and nothing hangs.
func TestUnreachable(t *testing.T) {
	srv := redisserver.Start(t)
	url := srv.URL()
	srv.Stop()
	b := open(t, url, redisbackend.WithSubscribeTimeout(500*time.Millisecond))
	cb := b.Cluster()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cb.Ready(ctx); err == nil {
		t.Fatal("Ready reported a stopped Redis as ready")
	}
	if _, err := cb.Tokens.Check(ctx, "t", "u", "h", time.Second); err == nil {
		t.Fatal("Check succeeded without Redis")
	}
	if err := cb.Bus.Subscribe(ctx, "t", func([]cluster.Event) {}); err == nil {
		t.Fatal("Subscribe succeeded without Redis")
	}
}

// TestTwoNodes runs the cross-node cases with two backends (two client
// pools) on one Redis: sessions expired by both nodes concurrently, and
// commands consumed by both.
func TestTwoNodes(t *testing.T) {
	srv := redisserver.Start(t)
	a, b := open(t, srv.URL()).Cluster(), open(t, srv.URL()).Cluster()
	ctx := clustertest.Ctx(t)
	ten := clustertest.Unique("t")
	l, ok, err := a.Ownership.Acquire(ctx, ten, "na", time.Minute)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if _, ok, _ := b.Ownership.Acquire(ctx, ten, "nb", time.Minute); ok {
		t.Fatal("second node acquired")
	}
	c := &clustertest.Collector{}
	if err := b.Bus.Subscribe(ctx, ten, cluster.Each(c.Fn)); err != nil {
		t.Fatal(err)
	}
	if err := a.Bus.PublishFenced(ctx, l, []cluster.Event{{Name: "hello", Key: "k/1", Data: []byte(`{"a":1}`)}}); err != nil {
		t.Fatal(err)
	}
	c.WaitFor(t, "hello")
	objs, seq, err := b.Bus.State(ctx, ten, "k/")
	if err != nil || len(objs) != 1 || seq != c.Events()[0].Seq {
		t.Fatalf("State from the other node = %+v %d %v", objs, seq, err)
	}
}

// TestRestartDuringSubscription: Redis restarts (losing its data); the
// subscriber gets a resync and later events.
func TestRestartDuringSubscription(t *testing.T) {
	srv := redisserver.Start(t)
	b := open(t, srv.URL())
	cb := b.Cluster()
	ctx, ten, c := subscribed(t, cb)
	l, _, err := cb.Ownership.Acquire(ctx, ten, "n", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := cb.Bus.PublishFenced(ctx, l, []cluster.Event{{Name: "before", Key: "k", Data: []byte(`1`)}}); err != nil {
		t.Fatal(err)
	}
	c.WaitFor(t, "before")
	srv.Restart(500 * time.Millisecond)
	clustertest.Eventually(t, clustertest.Bound, "resync after the restart", func() bool { return c.Resyncs() > 0 })
	// The data is gone: the owner re-acquires (a new epoch) and publishes.
	var l2 cluster.Lease
	clustertest.Eventually(t, clustertest.Bound, "re-acquire", func() bool {
		var ok bool
		l2, ok, err = cb.Ownership.Acquire(ctx, ten, "n", time.Minute)
		return err == nil && ok
	})
	if err := cb.Bus.PublishFenced(ctx, l2, []cluster.Event{{Name: "after", Key: "k", Data: []byte(`2`)}}); err != nil {
		t.Fatal(err)
	}
	c.WaitFor(t, "after")
	if err := cb.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if st := b.Stats(); st.Reconnects == 0 {
		t.Fatalf("stats %+v: no reconnect counted", st)
	}
}

// TestKilledPubSubConnection: CLIENT KILL of the pub/sub connection (data
// kept) → resync; an event published during the outage is in State.
func TestKilledPubSubConnection(t *testing.T) {
	srv := redisserver.Start(t)
	b := open(t, srv.URL())
	cb := b.Cluster()
	ctx, ten, c := subscribed(t, cb)
	if r, err := srv.Do("CLIENT KILL TYPE pubsub"); err != nil || r == ":0" {
		t.Fatalf("CLIENT KILL = %q, %v", r, err)
	}
	clustertest.Eventually(t, clustertest.Bound, "resync after the kill", func() bool { return c.Resyncs() > 0 })
	if err := cb.Bus.Publish(ctx, cluster.Event{Tenant: ten, Name: "later"}); err != nil {
		t.Fatal(err)
	}
	c.WaitFor(t, "later")
}

// TestPausedOwner: an owner whose lease expired while it was paused gets
// ErrNotOwner, and its events reach nobody.
func TestPausedOwner(t *testing.T) {
	srv := redisserver.Start(t)
	a, b := open(t, srv.URL()).Cluster(), open(t, srv.URL()).Cluster()
	ctx, ten, c := subscribed(t, b)
	la, ok, _ := a.Ownership.Acquire(ctx, ten, "na", 300*time.Millisecond)
	if !ok {
		t.Fatal("acquire")
	}
	var lb cluster.Lease
	clustertest.Eventually(t, clustertest.Bound, "takeover", func() bool {
		lb, ok, _ = b.Ownership.Acquire(ctx, ten, "nb", time.Minute)
		return ok
	})
	// a wakes up and publishes with its old lease.
	err := a.Bus.PublishFenced(ctx, la, []cluster.Event{{Name: "stale", Key: "k", Data: []byte(`"old"`)}})
	if !errors.Is(err, cluster.ErrNotOwner) {
		t.Fatalf("paused owner publish: %v, want ErrNotOwner", err)
	}
	if err := b.Bus.PublishFenced(ctx, lb, []cluster.Event{{Name: "fresh", Key: "k", Data: []byte(`"new"`)}}); err != nil {
		t.Fatal(err)
	}
	c.WaitFor(t, "fresh")
	if c.Has("stale") {
		t.Fatal("stale event delivered")
	}
	objs, _, _ := b.Bus.State(ctx, ten, "")
	if len(objs) != 1 || string(objs[0].Data) != `"new"` {
		t.Fatalf("state = %+v", objs)
	}
}

// TestDeafnessProbe: the pub/sub connection stays open but the server's
// replies stop reaching us (a proxy black-holes it). The probe notices,
// the hub recreates the connection, and the subscriber gets a resync and
// later events.
func TestDeafnessProbe(t *testing.T) {
	srv := redisserver.Start(t)
	px := startProxy(t, srv.Addr())
	b := open(t, "redis://"+px.addr()+"/0", redisbackend.WithProbe(300*time.Millisecond, 300*time.Millisecond))
	cb := b.Cluster()
	ctx, ten, c := subscribed(t, cb)
	// Idle: probes flow and nothing is recreated.
	time.Sleep(1200 * time.Millisecond)
	if st := b.Stats(); st.Deaf != 0 {
		t.Fatalf("healthy idle connection recreated: %+v", st)
	}
	px.blackholeSubscribers()
	clustertest.Eventually(t, clustertest.Bound, "deaf connection recreated", func() bool { return b.Stats().Deaf > 0 })
	clustertest.Eventually(t, clustertest.Bound, "resync after recreation", func() bool { return c.Resyncs() > 0 })
	if err := cb.Bus.Publish(ctx, cluster.Event{Tenant: ten, Name: "x"}); err != nil {
		t.Fatal(err)
	}
	c.WaitFor(t, "x")
}

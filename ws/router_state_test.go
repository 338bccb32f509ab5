package ws

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/memory"
	"github.com/ctiws/ctiws/pbx"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// slowState is a bus whose State, while blocked, reads the state at once
// but hands it over only when released: like a slow Redis answer, the
// state is as old as the moment it was read.
type slowState struct {
	cluster.Bus
	waiting chan struct{} // gets a value when a State call blocks
	mu      sync.Mutex
	blocked chan struct{} // closed: State does not block
}

// gate returns the channel whose closing releases State.
func (s *slowState) gate() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blocked
}

// block makes the next State calls block until the returned function
// releases them.
func (s *slowState) block() (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	s.blocked = ch
	return func() { close(ch) }
}

func (s *slowState) State(ctx context.Context, tenant, prefix string) ([]cluster.Object, uint64, error) {
	objs, seq, err := s.Bus.State(ctx, tenant, prefix)
	blocked := s.gate()
	select {
	case <-blocked:
		return objs, seq, err
	default:
	}
	s.waiting <- struct{}{}
	select {
	case <-blocked:
		return objs, seq, err
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
}

// TestSlowStateDoesNotBlockEvents: while a resync's state read is slow,
// the tenant's events are routed; the state, older than an event routed
// meanwhile, does not overwrite it when it comes in.
func TestSlowStateDoesNotBlockEvents(t *testing.T) {
	mb := memory.New()
	t.Cleanup(func() { _ = mb.Close() })
	b := mb.Cluster()
	slow := &slowState{Bus: b.Bus, waiting: make(chan struct{}, 1)}
	slow.block()() // the first state loads at once
	b.Bus = slow
	e := newAbuseEnv(t, Options{Backend: b})
	ctx := context.Background()
	lease, ok, err := b.Ownership.Acquire(ctx, "t1", "owner", time.Minute)
	if err != nil || !ok {
		t.Fatalf("acquire: %v %v", ok, err)
	}
	exten := func(status string) cluster.Event {
		data, _ := json.Marshal(pbx.Extension{Exten: "201", Status: status})
		return cluster.Event{Tenant: "t1", Name: cluster.EvExtenChanged, Key: cluster.KeyExten + "201", Data: data}
	}
	publish := func(evs ...cluster.Event) {
		t.Helper()
		if err := b.Bus.PublishFenced(ctx, lease, evs); err != nil {
			t.Fatal(err)
		}
	}
	node := func(name string) {
		t.Helper()
		if err := b.Bus.Publish(ctx, cluster.Event{Tenant: "t1", Name: name, Data: json.RawMessage(`["x"]`)}); err != nil {
			t.Fatal(err)
		}
	}
	alice := e.login("t1", "alice")
	publish(exten("online"))
	waitFor(t, "the first extenUpdate", func() bool { return alice.count(evExtenUpdate) == 1 })

	// A resync whose state read hangs.
	release := slow.block()
	if err := b.Bus.Publish(ctx, cluster.Event{Tenant: "t1", Name: cluster.EvResync}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-slow.waiting:
	case <-time.After(5 * time.Second):
		t.Fatal("the resync did not read the state")
	}
	// Events go on while the read hangs.
	publish(exten("busy"))
	node("during")
	waitFor(t, "events while the state read hangs", func() bool {
		return alice.count("during") == 1 && alice.count(evExtenUpdate) == 2
	})

	// The state comes in: it is older than the busy extension.
	release()
	resyncs := e.srv.metrics.Resyncs.WithLabelValues("t1")
	waitFor(t, "the resync", func() bool { return testutil.ToFloat64(resyncs) == 1 })
	node("after")
	waitFor(t, "an event after the resync", func() bool { return alice.count("after") == 1 })
	if n := alice.count(evExtenUpdate); n != 2 {
		t.Errorf("%d extenUpdates, want 2: the older state was routed again", n)
	}
	var got pbx.Extension
	if args := alice.lastArgs(evExtenUpdate); len(args) != 1 || json.Unmarshal(args[0], &got) != nil || got.Status != "busy" {
		t.Errorf("last extenUpdate %s, want status busy", args)
	}
	// The router kept the newer extension in its cache.
	r := e.srv.tenants.Load().byID["t1"].hub.router
	r.mu.Lock()
	status := r.state.extens["201"].status
	r.mu.Unlock()
	if status != "busy" {
		t.Errorf("cached status %q, want busy", status)
	}
}

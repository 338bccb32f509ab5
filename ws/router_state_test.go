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
	// lost makes State answer an empty state of sequence 0, as Redis does
	// after a restart that lost its data.
	lost bool
	// deliver are the routers' bus callbacks by tenant, to hand them
	// events numbered by hand.
	deliver map[string]func([]cluster.Event)
}

func (s *slowState) Subscribe(ctx context.Context, tenant string, fn func([]cluster.Event)) error {
	s.mu.Lock()
	if s.deliver == nil {
		s.deliver = map[string]func([]cluster.Event){}
	}
	s.deliver[tenant] = fn
	s.mu.Unlock()
	return s.Bus.Subscribe(ctx, tenant, fn)
}

// inject hands events to their tenant's router as the bus would.
func (s *slowState) inject(evs ...cluster.Event) {
	s.mu.Lock()
	fn := s.deliver[evs[0].Tenant]
	s.mu.Unlock()
	fn(evs)
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
	s.mu.Lock()
	if s.lost {
		objs, seq = nil, 0
	}
	s.mu.Unlock()
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
	e := newAbuseEnv(t, Options{Backend: b, DeliverEveryState: true}) // every frame counted: no conflation
	ctx := context.Background()
	lease, ok, err := b.Ownership.Acquire(ctx, "t1", "owner", time.Minute)
	if err != nil || !ok {
		t.Fatalf("acquire: %v %v", ok, err)
	}
	exten := func(status string) cluster.Event {
		data, _ := json.Marshal(pbx.Extension{Exten: "201", Status: status})
		return cluster.Event{Tenant: "t1", Name: pbx.EvExtenChanged, Key: pbx.KeyExten + "201", Data: data}
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
	r := e.srv.tenants.Load().byID["t1"].router
	r.mu.Lock()
	status := r.state.extens["201"].status
	r.mu.Unlock()
	if status != "busy" {
		t.Errorf("cached status %q, want busy", status)
	}
}

// TestResyncAfterLostCounters: after the bus asks for a resync (a Redis
// restart that lost its data and its counters), the new owner's events,
// numbered from 1 again, are routed at once, also while the state read
// is slow, and the empty state that comes in does not undo them.
func TestResyncAfterLostCounters(t *testing.T) {
	mb := memory.New()
	t.Cleanup(func() { _ = mb.Close() })
	b := mb.Cluster()
	slow := &slowState{Bus: b.Bus, waiting: make(chan struct{}, 1)}
	slow.block()()
	b.Bus = slow
	e := newAbuseEnv(t, Options{Backend: b, DeliverEveryState: true}) // every frame counted: no conflation
	ctx := context.Background()
	lease, ok, err := b.Ownership.Acquire(ctx, "t1", "owner", time.Minute)
	if err != nil || !ok {
		t.Fatalf("acquire: %v %v", ok, err)
	}
	exten := func(id, status string) cluster.Event {
		data, _ := json.Marshal(pbx.Extension{Exten: id, Status: status})
		return cluster.Event{Tenant: "t1", Name: pbx.EvExtenChanged, Key: pbx.KeyExten + id, Data: data}
	}
	alice := e.login("t1", "alice")
	var before []cluster.Event
	for _, st := range []string{"online", "busy", "online", "busy", "online"} {
		before = append(before, exten("202", st))
	}
	if err := b.Bus.PublishFenced(ctx, lease, before); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the owner's events", func() bool { return alice.count(evExtenUpdate) == 5 })

	// Redis restarts empty: the bus asks for a resync, the state read
	// hangs, and the new owner numbers from 1 again.
	slow.mu.Lock()
	slow.lost = true
	slow.mu.Unlock()
	release := slow.block()
	slow.inject(cluster.Event{Tenant: "t1", Name: cluster.EvResync})
	select {
	case <-slow.waiting:
	case <-time.After(5 * time.Second):
		t.Fatal("the resync did not read the state")
	}
	renumbered := func(ev cluster.Event, seq uint64) cluster.Event {
		ev.Epoch, ev.Seq = lease.Epoch+1, seq
		return ev
	}
	slow.inject(renumbered(exten("201", "ringing"), 1))
	waitFor(t, "the new owner's first event while the state read hangs", func() bool { return alice.count(evExtenUpdate) == 6 })

	release()
	resyncs := e.srv.metrics.Resyncs.WithLabelValues("t1")
	waitFor(t, "the resync", func() bool { return testutil.ToFloat64(resyncs) == 1 })
	slow.inject(renumbered(exten("202", "ringing"), 2))
	waitFor(t, "the new owner's next event", func() bool { return alice.count(evExtenUpdate) == 7 })
	r := e.srv.tenants.Load().byID["t1"].router
	r.mu.Lock()
	got, seq := r.state.extens["201"].status, r.seq
	r.mu.Unlock()
	if got != "ringing" || seq != 2 {
		t.Errorf("cached 201 %q, sequence %d; want ringing, 2", got, seq)
	}
}

package ownership

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/memory"
	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/pbx"
	"github.com/prometheus/client_golang/prometheus"
)

// fakePBX stands in for the AMI runner: it publishes one event per term
// and records the commands it is asked to carry out. It is ready unless
// setReady(false) was called.
type fakePBX struct {
	mu      sync.Mutex
	runs    int
	cmds    []cluster.Command
	running chan struct{}
	emitErr error
	ready   chan struct{} // nil: ready
}

// closedChan is a channel that is always closed.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (f *fakePBX) Ready() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ready == nil {
		return closedChan
	}
	return f.ready
}

// setReady makes the PBX ready or not; Do fails like ami.Runner's while
// it is not.
func (f *fakePBX) setReady(ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case ok && f.ready != nil:
		close(f.ready)
		f.ready = nil
	case !ok && f.ready == nil:
		f.ready = make(chan struct{})
	}
}

func (f *fakePBX) Run(ctx context.Context, emit func(context.Context, []cluster.Event) error) error {
	f.mu.Lock()
	f.runs++
	f.mu.Unlock()
	err := emit(ctx, []cluster.Event{{Tenant: "t", Name: pbx.EvExtenChanged, Key: "exten/201", Data: json.RawMessage(`{"exten":"201"}`)}})
	f.mu.Lock()
	f.emitErr = err
	f.mu.Unlock()
	select {
	case f.running <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

func (f *fakePBX) Do(_ context.Context, c cluster.Command) (json.RawMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ready != nil {
		return nil, fmt.Errorf("fake: not connected: %w", cluster.ErrCommandUnavailable)
	}
	f.cmds = append(f.cmds, c)
	return nil, nil
}

func (f *fakePBX) SetDirectory(*directory.Directory) {}

func (f *fakePBX) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.cmds {
		out = append(out, string(c.Name)+":"+c.User+":"+string(c.Args))
	}
	return out
}

const usersJSON = `{
 "bob": {"profile_id":"1","endpoints":{"mainextension":{"202":{}}},"settings":{"queue_auto_login":true,"queue_auto_logout":true,"auto_dndon_logout":true,"auto_dndoff_login":true}},
 "dave": {"profile_id":"2","endpoints":{"mainextension":{"204":{}}},"settings":{"queue_auto_login":true}}
}`

const profilesJSON = `{
 "1":{"macro_permissions":{"queue_agent":{"value":true},"settings":{"value":true,"permissions":{"dnd":{"value":true}}}}},
 "2":{"macro_permissions":{}}
}`

func newOwner(t *testing.T, b cluster.Backend, node string, p *fakePBX) *Owner {
	t.Helper()
	dir, err := directory.Parse([]byte(usersJSON), []byte(profilesJSON))
	if err != nil {
		t.Fatal(err)
	}
	return &Owner{
		Tenant: "t", Node: node, Backend: b, LeaseTTL: time.Second,
		NewPBX:    func() PBX { return p },
		Directory: func() *directory.Directory { return dir },
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics:   NewMetrics(prometheus.NewRegistry()),
	}
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timeout waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOneOwnerAndHandover(t *testing.T) {
	mb := memory.New()
	defer mb.Close()
	b := mb.Cluster()
	p1, p2 := &fakePBX{running: make(chan struct{}, 1)}, &fakePBX{running: make(chan struct{}, 1)}
	o1, o2 := newOwner(t, b, "n1", p1), newOwner(t, b, "n2", p2)
	ctx1, stop1 := context.WithCancel(context.Background())
	ctx2, stop2 := context.WithCancel(context.Background())
	defer stop2()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); o1.Run(ctx1) }()
	time.Sleep(50 * time.Millisecond)
	go func() { defer wg.Done(); o2.Run(ctx2) }()
	waitUntil(t, "an owner", 3*time.Second, func() bool { return o1.Owned() || o2.Owned() })
	time.Sleep(600 * time.Millisecond)
	if o1.Owned() == o2.Owned() {
		t.Fatalf("owned: n1 %v n2 %v, want exactly one", o1.Owned(), o2.Owned())
	}
	first, second := o1, o2
	stopFirst := stop1
	if o2.Owned() {
		first, second, stopFirst = o2, o1, stop2
	}
	l1, _, _ := b.Ownership.Owner(context.Background(), "t")
	start := time.Now()
	stopFirst() // planned handover: the lease is released at once
	waitUntil(t, "handover", 3*time.Second, second.Owned)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("planned handover took %v", d)
	}
	l2, _, _ := b.Ownership.Owner(context.Background(), "t")
	if l2.Epoch <= l1.Epoch || l2.Node == l1.Node {
		t.Errorf("leases %+v then %+v", l1, l2)
	}
	_ = first
	stop1()
	stop2()
	wg.Wait()
	objs, seq, _ := b.Bus.State(context.Background(), "t", "")
	if len(objs) != 1 || seq != 2 {
		t.Errorf("state %d objects, seq %d; want 1 object published by two terms", len(objs), seq)
	}
}

func TestLostLeaseStopsThePBX(t *testing.T) {
	mb := memory.New()
	defer mb.Close()
	b := mb.Cluster()
	p := &fakePBX{running: make(chan struct{}, 1)}
	o := newOwner(t, b, "n1", p)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { o.Run(ctx); close(done) }()
	<-p.running
	l, ok, _ := b.Ownership.Owner(ctx, "t")
	if !ok {
		t.Fatal("no lease")
	}
	// Someone else takes the tenant (the lease was lost, e.g. after a pause).
	if err := b.Ownership.Release(ctx, l); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := b.Ownership.Acquire(ctx, "t", "intruder", time.Minute); !ok {
		t.Fatal("intruder could not acquire")
	}
	waitUntil(t, "owner to notice", 3*time.Second, func() bool { return !o.Owned() })
	// A stale publish is fenced.
	if err := b.Bus.PublishFenced(ctx, l, []cluster.Event{{Tenant: "t", Name: pbx.EvExtenChanged, Key: "exten/1", Data: json.RawMessage(`{}`)}}); err == nil {
		t.Fatal("stale epoch publish accepted")
	}
	cancel()
	<-done
}

func TestLoginLogoutHooks(t *testing.T) {
	mb := memory.New()
	defer mb.Close()
	b := mb.Cluster()
	p := &fakePBX{running: make(chan struct{}, 1)}
	o := newOwner(t, b, "n1", p)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go o.Run(ctx)
	<-p.running
	for _, c := range []cluster.Command{
		{Tenant: "t", Name: "userLoggedIn", User: "bob"},
		{Tenant: "t", Name: "userLoggedOut", User: "bob"},
		{Tenant: "t", Name: "userLoggedIn", User: "dave"}, // no queue permission: nothing
		{Tenant: "t", Name: "userLoggedIn", User: "ghost"},
		{Tenant: "t", Name: "presence", User: "bob", Args: json.RawMessage(`{"exten":"202","status":"dnd"}`)},
	} {
		if err := b.Commands.Send(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		`queueLogin:bob:{"exten":"202"}`,
		`presence:bob:{"exten":"202","status":"online"}`,
		`queueLogout:bob:{"exten":"202"}`,
		`presence:bob:{"exten":"202","status":"dnd"}`,
		`presence:bob:{"exten":"202","status":"dnd"}`,
	}
	waitUntil(t, "commands", 3*time.Second, func() bool { return len(p.commands()) >= len(want) })
	time.Sleep(100 * time.Millisecond)
	got := p.commands()
	if len(got) != len(want) {
		t.Fatalf("commands %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("command %d = %s, want %s", i, got[i], want[i])
		}
	}
}

// lingeringCommands is a command queue whose Consume returns only a while
// after its context ended, like a blocking XREADGROUP that Redis answers
// at the end of its block time.
type lingeringCommands struct {
	cluster.Commands
	linger  time.Duration
	started chan struct{} // told when Consume starts
}

func (c lingeringCommands) Consume(ctx context.Context, tenant, node string, fn func(context.Context, cluster.Command) error) error {
	select {
	case c.started <- struct{}{}:
	default:
	}
	err := c.Commands.Consume(ctx, tenant, node, fn)
	time.Sleep(c.linger)
	return err
}

// TestStepDownDoesNotWaitForRedis: a node whose lease is lost steps down as
// soon as its AMI session has stopped (Owned, the metric), not when its
// slowest Redis call returns: another node may take the lease by then.
// The lease is released only after the term's work has stopped.
func TestStepDownDoesNotWaitForRedis(t *testing.T) {
	mb := memory.New()
	defer mb.Close()
	b := mb.Cluster()
	cmds := lingeringCommands{Commands: b.Commands, linger: 2 * time.Second, started: make(chan struct{}, 1)}
	b.Commands = cmds
	p := &fakePBX{running: make(chan struct{}, 1)}
	o := newOwner(t, b, "n1", p)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { o.Run(ctx); close(done) }()
	<-p.running
	<-cmds.started
	l, ok, _ := b.Ownership.Owner(ctx, "t")
	if !ok {
		t.Fatal("no lease")
	}
	start := time.Now()
	o.HandBack()
	waitUntil(t, "the owner to step down", 3*time.Second, func() bool { return !o.Owned() })
	// Well below the 2 s the command read lingers, with room for a loaded
	// machine.
	if d := time.Since(start); d > time.Second {
		t.Errorf("stepped down %v after the term ended; want at once (the command read lingers for 2 s)", d)
	}
	if cur, ok, _ := b.Ownership.Owner(ctx, "t"); !ok || cur != l {
		t.Errorf("lease %+v, %v right after the step-down; want still %+v until the term's work stopped", cur, ok, l)
	}
	cancel()
	<-done
}

// hungBus is a bus whose fenced publishes hang for a while whatever their
// context, like a go-redis call on a dead link (it waits for its read
// timeout, not for the context).
type hungBus struct {
	cluster.Bus
	hang    time.Duration
	started chan struct{} // told when a publish starts
}

func (b hungBus) PublishFenced(ctx context.Context, l cluster.Lease, evs []cluster.Event) error {
	select {
	case b.started <- struct{}{}:
	default:
	}
	time.Sleep(b.hang)
	return b.Bus.PublishFenced(ctx, l, evs)
}

// TestStepDownDoesNotWaitForAPublish: the AMI session stops, and the node
// stops counting itself the owner, as soon as the term ends, even while a
// fenced publish hangs on a dead link: the lease may expire and be taken
// before that call returns (docs/cluster.md, "One owner at a time").
func TestStepDownDoesNotWaitForAPublish(t *testing.T) {
	mb := memory.New()
	defer mb.Close()
	b := mb.Cluster()
	bus := hungBus{Bus: b.Bus, hang: 3 * time.Second, started: make(chan struct{}, 1)}
	b.Bus = bus
	p := &fakePBX{running: make(chan struct{}, 1)}
	o := newOwner(t, b, "n1", p)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { o.Run(ctx); close(done) }()
	<-bus.started
	waitUntil(t, "the term", 3*time.Second, o.Owned)
	start := time.Now()
	o.HandBack()
	waitUntil(t, "the owner to step down", 5*time.Second, func() bool { return !o.Owned() })
	// Well below the 3 s the publish hangs, with room for a loaded machine.
	if d := time.Since(start); d > time.Second {
		t.Errorf("stepped down %v after the term ended; want at once (the publish hangs for 3 s)", d)
	}
	cancel()
	<-done
}

package ownership

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/memory"
	"github.com/ctiws/ctiws/pbx"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// bobLogin is what bob's login hook asks of the PBX (usersJSON: queue
// auto-login and DND off at login).
var bobLogin = []string{`queueLogin:bob:{"exten":"202"}`, `presence:bob:{"exten":"202","status":"online"}`}

// runOwner runs o until the test ends and waits for its lease.
func runOwner(t *testing.T, o *Owner) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); o.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// await sends an awaited command and returns its result.
func await(t *testing.T, b cluster.Backend, args pbx.CommandArgs, within time.Duration) cluster.CommandResult {
	t.Helper()
	c := cluster.NewCommand("t", "bob", args).WithReply(time.Now().Add(within))
	ctx, cancel := context.WithTimeout(context.Background(), within+5*time.Second)
	defer cancel()
	if err := b.Commands.Send(ctx, c); err != nil {
		t.Fatal(err)
	}
	r, err := b.Commands.Await(ctx, "t", c.ID)
	if err != nil {
		t.Fatalf("no result for %s: %v", c.Name, err)
	}
	return r
}

// TestOwnerWaitsForThePBX: a command that reaches an owner whose PBX is not
// ready yet waits for it; when the wait runs out it fails with 503, and the
// commands after it fail at once until the PBX is ready again.
func TestOwnerWaitsForThePBX(t *testing.T) {
	mb := memory.New()
	defer mb.Close()
	b := mb.Cluster()
	p := &fakePBX{running: make(chan struct{}, 1)}
	p.setReady(false)
	o := newOwner(t, b, "n1", p)
	o.ReadyWait = 700 * time.Millisecond
	runOwner(t, o)
	waitUntil(t, "ownership", 3*time.Second, o.Owned)

	// Ready a moment after the command arrived: it is carried out.
	time.AfterFunc(200*time.Millisecond, func() { p.setReady(true) })
	if r := await(t, b, pbx.Call{Exten: "202", Number: "201"}, 10*time.Second); r.Status != 200 {
		t.Fatalf("a command sent before the PBX was ready: %+v, want 200 once it is", r)
	}
	// Not ready for longer than the wait: 503, then 503 at once.
	p.setReady(false)
	start := time.Now()
	if r := await(t, b, pbx.Hangup{Conv: pbx.Conv{Exten: "202", ConvID: "a>b"}}, 10*time.Second); r.Status != 503 {
		t.Fatalf("a command the PBX was not ready for: %+v, want 503", r)
	}
	if took := time.Since(start); took < o.ReadyWait {
		t.Fatalf("the 503 came after %s, before the owner's wait of %s", took, o.ReadyWait)
	}
	if r := await(t, b, pbx.Hangup{Conv: pbx.Conv{Exten: "202", ConvID: "a>b"}}, 10*time.Second); r.Status != 503 {
		t.Fatalf("a command after a wait ran out: %+v, want 503", r)
	}
	// An awaited command waits no longer than its own deadline.
	start = time.Now()
	if r := await(t, b, pbx.Call{Exten: "202", Number: "203"}, 100*time.Millisecond); r.Status != 503 && r.Status != 504 {
		t.Fatalf("a command whose sender stops waiting: %+v, want 503 or 504", r)
	}
	p.setReady(true)
	if r := await(t, b, pbx.Call{Exten: "202", Number: "204"}, 10*time.Second); r.Status != 200 {
		t.Fatalf("a command once the PBX is back: %+v, want 200", r)
	}
	got := p.commands()
	if len(got) != 2 || !slices.Contains(got, `call:bob:{"exten":"202","number":"201"}`) || !slices.Contains(got, `call:bob:{"exten":"202","number":"204"}`) {
		t.Fatalf("PBX got %q, want the two calls made while it was ready", got)
	}
}

// TestOwnerKeepsLoginHooksUntilReady: a user's login hook that reaches an
// owner whose PBX is not ready is carried out once it is (queue auto-login),
// before the commands that came after it, with no duplicate.
func TestOwnerKeepsLoginHooksUntilReady(t *testing.T) {
	mb := memory.New()
	defer mb.Close()
	b := mb.Cluster()
	p := &fakePBX{running: make(chan struct{}, 1)}
	p.setReady(false)
	o := newOwner(t, b, "n1", p)
	o.ReadyWait = 10 * time.Second
	runOwner(t, o)
	waitUntil(t, "ownership", 3*time.Second, o.Owned)

	ctx := context.Background()
	// bob logs in, out and in again while the PBX is down: his last hook
	// counts, once. Then he logs out of the queue by hand: that comes last.
	for _, c := range []cluster.Command{
		{Tenant: "t", Name: pbx.CmdUserLoggedIn, User: "bob"},
		{Tenant: "t", Name: pbx.CmdUserLoggedOut, User: "bob"},
		{Tenant: "t", Name: pbx.CmdUserLoggedIn, User: "bob"},
		cluster.NewCommand("t", "bob", pbx.QueueLogout{Exten: "202"}),
	} {
		if err := b.Commands.Send(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if got := p.commands(); len(got) != 0 {
		t.Fatalf("PBX got %q while it was not ready", got)
	}
	p.setReady(true)
	want := append(slices.Clone(bobLogin), `queueLogout:bob:{"exten":"202"}`)
	waitUntil(t, "the kept hook and the command after it", 5*time.Second, func() bool { return len(p.commands()) >= len(want) })
	time.Sleep(200 * time.Millisecond) // nothing more comes
	if got := p.commands(); !slices.Equal(got, want) {
		t.Fatalf("PBX got %q, want %q", got, want)
	}
}

// TestOwnerKeptHookWhenTheReadyPBXComesAlone: with no command after it, a
// kept hook is carried out as soon as the PBX is ready.
func TestOwnerKeptHookWhenTheReadyPBXComesAlone(t *testing.T) {
	mb := memory.New()
	defer mb.Close()
	b := mb.Cluster()
	p := &fakePBX{running: make(chan struct{}, 1)}
	p.setReady(false)
	o := newOwner(t, b, "n1", p)
	runOwner(t, o)
	waitUntil(t, "ownership", 3*time.Second, o.Owned)
	if err := b.Commands.Send(context.Background(), cluster.Command{Tenant: "t", Name: pbx.CmdUserLoggedIn, User: "bob"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	p.setReady(true)
	waitUntil(t, "bob's queue auto-login", 5*time.Second, func() bool { return slices.Equal(p.commands(), bobLogin) })
}

// TestOwnerHandsKeptHooksOver: a login hook kept by an owner whose PBX never
// became ready goes to the next owner when the term ends.
func TestOwnerHandsKeptHooksOver(t *testing.T) {
	mb := memory.New()
	defer mb.Close()
	b := mb.Cluster()
	down := &fakePBX{running: make(chan struct{}, 1)}
	down.setReady(false)
	o1 := newOwner(t, b, "n1", down)
	stop1 := runOwner(t, o1)
	waitUntil(t, "ownership", 3*time.Second, o1.Owned)
	if err := b.Commands.Send(context.Background(), cluster.Command{Tenant: "t", Name: pbx.CmdUserLoggedIn, User: "bob"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the hook kept", 3*time.Second, func() bool {
		return testutil.ToFloat64(o1.Metrics.Commands.WithLabelValues("t", "userLoggedIn", "deferred")) == 1
	})
	up := &fakePBX{running: make(chan struct{}, 1)}
	o2 := newOwner(t, b, "n2", up)
	runOwner(t, o2)
	stop1() // n1 stops: n2 takes the lease
	waitUntil(t, "bob's queue auto-login on the next owner", 10*time.Second, func() bool { return slices.Equal(up.commands(), bobLogin) })
	if got := down.commands(); len(got) != 0 {
		t.Fatalf("the owner whose PBX was down got %q", got)
	}
}

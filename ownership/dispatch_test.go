package ownership

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/memory"
	"github.com/ctiws/ctiws/pbx"
)

// heldPBX holds the commands hold picks (like an Originate waiting for a
// phone nobody answers) until release is closed or the term ends; the
// others are carried out at once.
type heldPBX struct {
	*fakePBX
	hold    func(cluster.Command) bool
	release chan struct{}
	started chan cluster.Command

	mu         sync.Mutex
	now, peak  int // commands being carried out, and the most at once
	orderMu    sync.Mutex
	doneInTurn []string
}

func (h *heldPBX) Do(ctx context.Context, c cluster.Command) (json.RawMessage, error) {
	h.mu.Lock()
	h.now++
	h.peak = max(h.peak, h.now)
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.now--
		h.mu.Unlock()
	}()
	h.started <- c
	if h.hold(c) {
		select {
		case <-h.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	h.orderMu.Lock()
	h.doneInTurn = append(h.doneInTurn, c.User+":"+string(c.Args))
	h.orderMu.Unlock()
	return h.fakePBX.Do(ctx, c)
}

func startHeld(t *testing.T, hold func(cluster.Command) bool, tune func(*Owner)) (*heldPBX, cluster.Backend, context.Context) {
	t.Helper()
	mb := memory.New()
	t.Cleanup(func() { _ = mb.Close() })
	b := mb.Cluster()
	h := &heldPBX{fakePBX: &fakePBX{running: make(chan struct{}, 1)}, hold: hold,
		release: make(chan struct{}), started: make(chan cluster.Command, 64)}
	o := newOwner(t, b, "n1", h.fakePBX)
	o.NewPBX = func() PBX { return h }
	if tune != nil {
		tune(o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); o.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	waitUntil(t, "ownership", 5*time.Second, o.Owned)
	return h, b, ctx
}

func call(user, exten string) cluster.Command {
	return cluster.NewCommand("t", user, pbx.Call{Exten: exten, Number: "300"}).WithReply(time.Now().Add(time.Minute))
}

// sendAwait queues c and returns a channel that gets its result.
func sendAwait(t *testing.T, ctx context.Context, b cluster.Backend, c cluster.Command) <-chan cluster.CommandResult {
	t.Helper()
	if err := b.Commands.Send(ctx, c); err != nil {
		t.Fatal(err)
	}
	out := make(chan cluster.CommandResult, 1)
	go func() {
		r, err := b.Commands.Await(ctx, "t", c.ID)
		if err != nil {
			r = cluster.CommandResult{Status: -1, Error: err.Error()}
		}
		out <- r
	}()
	return out
}

// result waits (generously: a loaded machine) for a result.
func result(t *testing.T, what string, ch <-chan cluster.CommandResult) cluster.CommandResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(20 * time.Second):
		t.Fatalf("no result for %s", what)
		return cluster.CommandResult{}
	}
}

// started waits (generously) for the next command to reach the PBX.
func (h *heldPBX) next(t *testing.T, what string) cluster.Command {
	t.Helper()
	select {
	case c := <-h.started:
		return c
	case <-time.After(20 * time.Second):
		t.Fatalf("%s never reached the PBX", what)
		return cluster.Command{}
	}
}

// TestOwnerUsersDoNotWaitOnEachOther: alice's calls hang (her phone rings
// and nobody answers); bob's call is answered while all of hers are still
// pending, and alice's fifth pending call is refused 429 at once.
func TestOwnerUsersDoNotWaitOnEachOther(t *testing.T) {
	h, b, ctx := startHeld(t, func(c cluster.Command) bool { return c.User == "alice" }, nil)
	var alice []<-chan cluster.CommandResult
	for range DefaultMaxPendingPerUser {
		alice = append(alice, sendAwait(t, ctx, b, call("alice", "201")))
	}
	for range DefaultMaxPendingPerUser {
		h.next(t, "one of alice's calls") // all of them are on the PBX
	}
	if r := result(t, "alice's 5th call", sendAwait(t, ctx, b, call("alice", "201"))); r.Status != 429 {
		t.Fatalf("alice's 5th pending call answered %+v, want 429", r)
	}
	if r := result(t, "bob's call", sendAwait(t, ctx, b, call("bob", "202"))); r.Status != 200 {
		t.Fatalf("bob's call answered %+v, want 200", r)
	}
	for i, ch := range alice {
		select {
		case r := <-ch:
			t.Fatalf("alice's call %d answered %+v before it was released", i, r)
		default:
		}
	}
	close(h.release)
	for i, ch := range alice {
		if r := result(t, "alice's call", ch); r.Status != 200 {
			t.Fatalf("alice's call %d answered %+v, want 200", i, r)
		}
	}
	// A slot is free again: alice may call again.
	if r := result(t, "alice's next call", sendAwait(t, ctx, b, call("alice", "201"))); r.Status != 200 {
		t.Fatalf("alice's call after the others answered %+v, want 200", r)
	}
}

// TestOwnerTenantBound: no more than MaxConcurrentCommands commands of
// the tenant run at once; the others wait for a slot and then run.
func TestOwnerTenantBound(t *testing.T) {
	users := []string{"u1", "u2", "u3", "u4", "u5"}
	h, b, ctx := startHeld(t, func(cluster.Command) bool { return true }, func(o *Owner) { o.MaxConcurrentCommands = 2 })
	var res []<-chan cluster.CommandResult
	for _, u := range users {
		res = append(res, sendAwait(t, ctx, b, call(u, "201")))
	}
	h.next(t, "a first call")
	h.next(t, "a second call")
	select {
	case c := <-h.started:
		t.Fatalf("%s's command started with two running and a bound of two", c.User)
	case <-time.After(200 * time.Millisecond):
	}
	close(h.release)
	for _, ch := range res {
		if r := result(t, "a held call", ch); r.Status != 200 {
			t.Fatalf("answered %+v, want 200", r)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.peak != 2 {
		t.Fatalf("at most %d commands ran at once, want 2", h.peak)
	}
}

// TestOwnerKeepsOneUsersOrder: a user's fire-and-forget commands
// (presence) run in the order queued, one at a time, even while the user's
// own call hangs.
func TestOwnerKeepsOneUsersOrder(t *testing.T) {
	h, b, ctx := startHeld(t, func(c cluster.Command) bool { return c.Name == pbx.CmdCall }, nil)
	hung := sendAwait(t, ctx, b, call("bob", "202"))
	h.next(t, "bob's call") // it hangs on the PBX
	go func() {
		for range h.started { // drain
		}
	}()
	var want []string
	for i := range 20 {
		st := []string{"dnd", "online"}[i%2]
		c := cluster.NewCommand("t", "bob", pbx.Presence{Exten: "202", Status: st})
		if i%3 == 0 {
			// A REST presence change waits for its result: still in
			// order.
			c = c.WithReply(time.Now().Add(time.Minute))
		}
		if err := b.Commands.Send(ctx, c); err != nil {
			t.Fatal(err)
		}
		want = append(want, "bob:"+string(c.Args))
	}
	waitUntil(t, "the presence commands", 20*time.Second, func() bool {
		h.orderMu.Lock()
		defer h.orderMu.Unlock()
		return len(h.doneInTurn) == len(want)
	})
	h.orderMu.Lock()
	got := append([]string(nil), h.doneInTurn...)
	h.orderMu.Unlock()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("presence carried out in the order %q, want %q", got, want)
		}
	}
	h.mu.Lock()
	peak := h.peak
	h.mu.Unlock()
	if peak != 2 {
		t.Fatalf("at most %d of bob's commands ran at once, want 2 (the call and one presence)", peak)
	}
	close(h.release)
	if r := result(t, "bob's call", hung); r.Status != 200 {
		t.Fatalf("bob's call answered %+v", r)
	}
}

// TestOwnerRequeuesUndoneCommands: the commands a term's end interrupts
// (a call on the PBX) or leaves unstarted (a presence behind it in the
// user's lane) are queued again for the next owner, in order.
func TestOwnerRequeuesUndoneCommands(t *testing.T) {
	mb := memory.New()
	defer mb.Close()
	b := mb.Cluster()
	h := &heldPBX{fakePBX: &fakePBX{running: make(chan struct{}, 1)}, hold: func(cluster.Command) bool { return true },
		release: make(chan struct{}), started: make(chan cluster.Command, 64)}
	o := newOwner(t, b, "n1", h.fakePBX)
	o.NewPBX = func() PBX { return h }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); o.Run(ctx) }()
	waitUntil(t, "ownership", 5*time.Second, o.Owned)
	c := call("alice", "201")
	first := cluster.NewCommand("t", "bob", pbx.Presence{Exten: "202", Status: "dnd"})
	second := cluster.NewCommand("t", "bob", pbx.Presence{Exten: "202", Status: "online"})
	for _, cmd := range []cluster.Command{c, first, second} {
		if err := b.Commands.Send(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}
	h.next(t, "a command")
	h.next(t, "another command") // the call and bob's first presence hang
	cancel()
	<-done

	var got []string
	cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer ccancel()
	_ = b.Commands.Consume(cctx, "t", "n2", func(_ context.Context, q cluster.Command) error {
		got = append(got, q.User+":"+string(q.Args))
		if len(got) == 3 {
			ccancel()
		}
		return nil
	})
	want := map[string]bool{"alice:" + string(c.Args): true, "bob:" + string(first.Args): true, "bob:" + string(second.Args): true}
	if len(got) != 3 || !want[got[0]] || !want[got[1]] || !want[got[2]] {
		t.Fatalf("queued again %q, want the call and both presences", got)
	}
	if bobFirst, bobSecond := slices.Index(got, "bob:"+string(first.Args)), slices.Index(got, "bob:"+string(second.Args)); bobFirst > bobSecond {
		t.Fatalf("bob's presences queued again out of order: %q", got)
	}
}

package clustertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

func commandCases() []Case {
	return []Case{
		{"commands/redeliver-after-failure", testCommandsRetry},
		{"commands/two-consumers", testCommandsTwoConsumers},
		{"commands/owner-change", testCommandsOwnerChange},
		{"commands/tenant-isolation", testCommandsIsolation},
		{"commands/reply-round-trip", testCommandsReply},
		{"commands/reply-before-await", testCommandsReplyFirst},
		{"commands/await-timeout", testCommandsAwaitTimeout},
		{"commands/reply-isolation", testCommandsReplyIsolation},
	}
}

// consume runs Consume in a goroutine until the test (or ctx) ends.
func consume(t *testing.T, ctx context.Context, c cluster.Commands, tenant, node string, fn func(context.Context, cluster.Command) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := c.Consume(ctx, tenant, node, fn); err != nil && ctx.Err() == nil {
			t.Errorf("Consume(%s,%s): %v", tenant, node, err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// seen counts deliveries per command (identified by its Args).
type seen struct {
	mu sync.Mutex
	n  map[string]int
}

func (s *seen) add(c cluster.Command) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == nil {
		s.n = map[string]int{}
	}
	s.n[string(c.Args)]++
	return s.n[string(c.Args)]
}

func (s *seen) get(arg string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[arg]
}

func (s *seen) total() (int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sum := 0
	for _, v := range s.n {
		sum += v
	}
	return len(s.n), sum
}

func send(t *testing.T, c cluster.Commands, tenant string, name string, arg string) {
	t.Helper()
	if err := c.Send(Ctx(t), cluster.Command{Tenant: tenant, Name: name, User: "alice", Args: json.RawMessage(arg)}); err != nil {
		t.Fatalf("Send: %v", err)
	}
}

func testCommandsRetry(t *testing.T, b cluster.Backend) {
	ten, node := Unique("t"), Unique("n")
	var s seen
	var mu sync.Mutex
	var got []cluster.Command
	for i := range 3 {
		send(t, b.Commands, ten, "setPresence", fmt.Sprintf(`"%d"`, i))
	}
	consume(t, Ctx(t), b.Commands, ten, node, func(_ context.Context, c cluster.Command) error {
		if s.add(c) == 1 && string(c.Args) == `"1"` {
			return errors.New("transient failure")
		}
		mu.Lock()
		got = append(got, c)
		mu.Unlock()
		return nil
	})
	Eventually(t, Bound, "the failed command delivered again", func() bool { return s.get(`"1"`) == 2 })
	Eventually(t, Bound, "all three acknowledged", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 3
	})
	time.Sleep(300 * time.Millisecond)
	if n, sum := s.total(); n != 3 || sum != 4 {
		t.Fatalf("%d commands, %d deliveries; want 3 and 4", n, sum)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, c := range got {
		if c.Tenant != ten || c.Name != "setPresence" || c.User != "alice" || c.ID == "" {
			t.Fatalf("delivered %+v", c)
		}
	}
}

func testCommandsTwoConsumers(t *testing.T, b cluster.Backend) {
	ten := Unique("t")
	var s seen
	fn := func(_ context.Context, c cluster.Command) error { s.add(c); return nil }
	consume(t, Ctx(t), b.Commands, ten, Unique("na"), fn)
	consume(t, Ctx(t), b.Commands, ten, Unique("nb"), fn)
	const n = 30
	for i := range n {
		send(t, b.Commands, ten, "cmd", fmt.Sprint(i))
	}
	Eventually(t, Bound, "every command delivered", func() bool { k, _ := s.total(); return k == n })
	time.Sleep(500 * time.Millisecond)
	if k, sum := s.total(); k != n || sum != n {
		t.Fatalf("%d commands delivered %d times; want each once", k, sum)
	}
}

// testCommandsOwnerChange: the first consumer stops (its context ends) while
// handling a command and fails it; the command reaches the next owner.
func testCommandsOwnerChange(t *testing.T, b cluster.Backend) {
	ten := Unique("t")
	ctxA, stopA := context.WithCancel(Ctx(t))
	var s seen
	consume(t, ctxA, b.Commands, ten, Unique("na"), func(ctx context.Context, c cluster.Command) error {
		s.add(c)
		stopA()
		<-ctx.Done()
		return ctx.Err()
	})
	send(t, b.Commands, ten, "cmd", `"x"`)
	Eventually(t, Bound, "first owner got the command", func() bool { return s.get(`"x"`) == 1 })
	got := make(chan cluster.Command, 10)
	consume(t, Ctx(t), b.Commands, ten, Unique("nb"), func(_ context.Context, c cluster.Command) error {
		got <- c
		return nil
	})
	select {
	case c := <-got:
		if string(c.Args) != `"x"` {
			t.Fatalf("next owner got %+v", c)
		}
	case <-time.After(2 * Bound):
		t.Fatal("command lost on owner change")
	}
}

func testCommandsIsolation(t *testing.T, b cluster.Backend) {
	ta, tb := Unique("ta"), Unique("tb")
	ga, gb := make(chan cluster.Command, 10), make(chan cluster.Command, 10)
	consume(t, Ctx(t), b.Commands, ta, Unique("n"), func(_ context.Context, c cluster.Command) error { ga <- c; return nil })
	consume(t, Ctx(t), b.Commands, tb, Unique("n"), func(_ context.Context, c cluster.Command) error { gb <- c; return nil })
	send(t, b.Commands, tb, "forB", `1`)
	send(t, b.Commands, ta, "forA", `2`)
	for _, x := range []struct {
		ch   chan cluster.Command
		name string
		ten  string
	}{{ga, "forA", ta}, {gb, "forB", tb}} {
		select {
		case c := <-x.ch:
			if c.Name != x.name || c.Tenant != x.ten {
				t.Fatalf("consumer of %s got %+v", x.ten, c)
			}
		case <-time.After(Bound):
			t.Fatalf("%s not delivered", x.name)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if len(ga)+len(gb) != 0 {
		t.Fatal("extra deliveries")
	}
}

// callBody is a command body as the PBX vocabulary writes one (pbx.Call):
// the queue knows it only as a name and JSON.
type callBody struct {
	Exten  string `json:"exten"`
	Number string `json:"number"`
}

// CommandName names the command.
func (callBody) CommandName() string { return "call" }

// testCommandsReply: an awaited command keeps its id, reply flag and
// deadline through the queue; the consumer's reply reaches the waiter once.
func testCommandsReply(t *testing.T, b cluster.Backend) {
	ten := Unique("t")
	deadline := time.Now().Add(time.Minute)
	cmd := cluster.NewCommand(ten, "alice", callBody{Exten: "201", Number: "202"}).WithReply(deadline)
	consume(t, Ctx(t), b.Commands, ten, Unique("n"), func(ctx context.Context, c cluster.Command) error {
		if c.ID != cmd.ID || !c.Reply || c.Expires != deadline.UnixMilli() || c.Name != "call" {
			t.Errorf("delivered %+v, want id %s, reply, deadline", c, cmd.ID)
		}
		var a callBody
		if err := json.Unmarshal(c.Args, &a); err != nil || a.Number != "202" {
			t.Errorf("decode: %v %+v", err, a)
		}
		return b.Commands.Reply(ctx, c.Tenant, c.ID, cluster.CommandResult{Status: 200, Data: json.RawMessage(`{"uniqueid":"1.2"}`)})
	})
	if err := b.Commands.Send(Ctx(t), cmd); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(Ctx(t), 2*Bound)
	defer cancel()
	r, err := b.Commands.Await(ctx, ten, cmd.ID)
	if err != nil {
		t.Fatalf("Await: %v", err)
	}
	if r.Status != 200 || string(r.Data) != `{"uniqueid":"1.2"}` {
		t.Fatalf("result %+v", r)
	}
	// Handed out once: a second wait times out.
	ctx2, cancel2 := context.WithTimeout(Ctx(t), 300*time.Millisecond)
	defer cancel2()
	if r, err := b.Commands.Await(ctx2, ten, cmd.ID); err == nil {
		t.Fatalf("second Await got %+v", r)
	}
}

// testCommandsReplyFirst: a result stored before anyone waits is kept.
func testCommandsReplyFirst(t *testing.T, b cluster.Backend) {
	ten, id := Unique("t"), cluster.NewCommandID()
	if err := b.Commands.Reply(Ctx(t), ten, id, cluster.CommandResult{Status: 404, Error: "no such conversation"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(Ctx(t), Bound)
	defer cancel()
	r, err := b.Commands.Await(ctx, ten, id)
	if err != nil || r.Status != 404 || r.Error != "no such conversation" {
		t.Fatalf("Await = %+v, %v", r, err)
	}
}

// testCommandsAwaitTimeout: without a reply Await ends with ctx.
func testCommandsAwaitTimeout(t *testing.T, b cluster.Backend) {
	ctx, cancel := context.WithTimeout(Ctx(t), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := b.Commands.Await(ctx, Unique("t"), cluster.NewCommandID())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Await without reply: %v, want deadline exceeded", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("Await outlived its context by far: %v", time.Since(start))
	}
}

// testCommandsReplyIsolation: a result is only seen by its tenant and id.
func testCommandsReplyIsolation(t *testing.T, b cluster.Backend) {
	ta, tb, id := Unique("ta"), Unique("tb"), cluster.NewCommandID()
	if err := b.Commands.Reply(Ctx(t), ta, id, cluster.CommandResult{Status: 200}); err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct{ ten, id string }{{tb, id}, {ta, cluster.NewCommandID()}} {
		ctx, cancel := context.WithTimeout(Ctx(t), 300*time.Millisecond)
		r, err := b.Commands.Await(ctx, x.ten, x.id)
		cancel()
		if err == nil {
			t.Fatalf("Await(%s,%s) got another's result %+v", x.ten, x.id, r)
		}
	}
	ctx, cancel := context.WithTimeout(Ctx(t), Bound)
	defer cancel()
	if r, err := b.Commands.Await(ctx, ta, id); err != nil || r.Status != 200 {
		t.Fatalf("own result: %+v, %v", r, err)
	}
}

package ownership

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/memory"
	"github.com/ctiws/ctiws/pbx"
)

// TestOwnerAnswersAwaitedCommands: the owner publishes the result of an
// awaited command, and answers an expired one without carrying it out.
func TestOwnerAnswersAwaitedCommands(t *testing.T) {
	mb := memory.New()
	defer mb.Close()
	b := mb.Cluster()
	p := &fakePBX{running: make(chan struct{}, 1)}
	o := newOwner(t, b, "n1", p)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); o.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()
	waitUntil(t, "ownership", 3*time.Second, o.Owned)

	await := func(c cluster.Command) cluster.CommandResult {
		t.Helper()
		if err := b.Commands.Send(ctx, c); err != nil {
			t.Fatal(err)
		}
		actx, acancel := context.WithTimeout(ctx, 3*time.Second)
		defer acancel()
		r, err := b.Commands.Await(actx, "t", c.ID)
		if err != nil {
			t.Fatalf("no result for %s: %v", c.Name, err)
		}
		return r
	}
	ok := await(cluster.NewCommand("t", "bob", pbx.Call{Exten: "202", Number: "201"}).WithReply(time.Now().Add(time.Minute)))
	if ok.Status != 200 {
		t.Fatalf("result %+v, want 200", ok)
	}
	expired := await(cluster.NewCommand("t", "bob", pbx.Hangup{Conv: pbx.Conv{Exten: "202", ConvID: "x"}}).WithReply(time.Now().Add(-time.Second)))
	if expired.Status != 504 {
		t.Fatalf("expired command answered %+v, want 504", expired)
	}
	bad := await(cluster.Command{Tenant: "t", Name: "reboot", ID: cluster.NewCommandID(), Reply: true})
	if bad.Status != 400 {
		t.Fatalf("unknown command answered %+v, want 400", bad)
	}
	if got := p.commands(); len(got) != 1 || got[0] != `call:bob:{"exten":"202","number":"201"}` {
		t.Fatalf("PBX got %q; want only the call, not the expired hangup nor the unknown command", got)
	}
}

package ownership

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/memory"
	"github.com/ctiws/ctiws/internal/guard"
	"github.com/ctiws/ctiws/pbx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// panickyPBX panics in its first Run and in every "boom" command; other
// commands go to the fakePBX it wraps.
type panickyPBX struct {
	*fakePBX
	runs atomic.Int32
}

func (p *panickyPBX) Run(ctx context.Context, emit func(context.Context, []cluster.Event) error) error {
	if p.runs.Add(1) == 1 {
		panic("injected PBX panic")
	}
	return p.fakePBX.Run(ctx, emit)
}

func (p *panickyPBX) Do(ctx context.Context, c cluster.Command) (json.RawMessage, error) {
	if c.Name == pbx.CmdHangup {
		panic("injected command panic")
	}
	return p.fakePBX.Do(ctx, c)
}

// TestOwnerPanicsAreContained: a panicking PBX ends its ownership term
// only (the lease is taken again and the PBX restarted), a panicking
// command fails alone, and the owner of another tenant keeps running.
func TestOwnerPanicsAreContained(t *testing.T) {
	mb := memory.New()
	defer mb.Close()
	b := mb.Cluster()
	reg := prometheus.NewRegistry()
	panics := guard.New(reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	bad := &panickyPBX{fakePBX: &fakePBX{running: make(chan struct{}, 1)}}
	good := &fakePBX{running: make(chan struct{}, 1)}
	ob := newOwner(t, b, "n1", nil)
	ob.NewPBX = func() PBX { return bad }
	ob.Panics = panics
	og := newOwner(t, b, "n1", good)
	og.Tenant, og.Metrics, og.Panics = "u", ob.Metrics, panics

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, o := range []*Owner{ob, og} {
		wg.Add(1)
		go func() { defer wg.Done(); o.Run(ctx) }()
	}
	defer func() { cancel(); wg.Wait() }()

	<-good.running
	// The bad tenant's first term panics; the next term runs the PBX.
	select {
	case <-bad.running:
	case <-time.After(5 * time.Second):
		t.Fatal("the panicked tenant's PBX was not restarted")
	}
	if got := testutil.ToFloat64(panics.Counter(guard.Owner, "t")); got != 1 {
		t.Errorf("panics{owner,t} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(ob.Metrics.OwnershipChanges.WithLabelValues("t", "acquired")); got != 2 {
		t.Errorf("tenant t acquired %v times, want 2", got)
	}
	if !og.Owned() || good.runs != 1 {
		t.Errorf("the other tenant: owned %v, PBX runs %d; want its one term untouched", og.Owned(), good.runs)
	}

	// A command that panics fails alone; the next one is carried out.
	for _, a := range []pbx.CommandArgs{pbx.Hangup{}, pbx.Call{Exten: "202", Number: "201"}} {
		if err := b.Commands.Send(ctx, cluster.NewCommand("t", "bob", a)); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "the command after the panicking one", 5*time.Second, func() bool { return len(bad.commands()) == 1 })
	if got := testutil.ToFloat64(ob.Metrics.Commands.WithLabelValues("t", "hangup", "error")); got != 1 {
		t.Errorf("commands{hangup,error} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(panics.Counter(guard.Owner, "t")); got != 2 {
		t.Errorf("panics{owner,t} = %v, want 2", got)
	}
	if got := testutil.ToFloat64(ob.Metrics.OwnershipChanges.WithLabelValues("t", "acquired")); got != 2 {
		t.Errorf("a panicking command ended the term (acquired %v times)", got)
	}
}

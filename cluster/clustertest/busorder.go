package clustertest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

// The bus's order guarantees, which subscribers (the ws router) rely on
// without checking them again: a tenant's fenced events arrive in Seq
// order without a gap unless a resync signal comes first, and never one of
// an older epoch after one of a newer; Origin and Time are stamped by the
// publish side.
func busOrderCases() []Case {
	return []Case{
		{"bus/order-across-owners", testBusOrderAcrossOwners},
		{"bus/stamps", testBusStamps},
	}
}

// testBusOrderAcrossOwners: a former owner publishing while its successor
// takes over gets ErrNotOwner; a subscriber sees exactly the accepted
// events, the former owner's first, numbered without a gap.
func testBusOrderAcrossOwners(t *testing.T, b cluster.Backend) {
	ctx := Ctx(t)
	ten, na, nb := Unique("t"), Unique("na"), Unique("nb")
	c := subscribe(t, b.Bus, ten)
	la, ok := acquire(t, b.Ownership, ten, na, time.Minute)
	if !ok {
		t.Fatal("acquire")
	}
	var (
		wg       sync.WaitGroup
		accepted int
	)
	// At most maxA events: fewer than a subscriber's queue holds, so none
	// is lost to an overflow (which a resync would cover).
	const maxA = 1000
	wg.Go(func() {
		for i := range maxA {
			err := b.Bus.PublishFenced(ctx, la, []cluster.Event{{Name: "a", Key: fmt.Sprintf("obj/%d", i%5), Data: raw(fmt.Sprintf(`{"i":%d}`, i))}})
			if errors.Is(err, cluster.ErrNotOwner) {
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			accepted++
		}
	})
	Eventually(t, Bound, "the first owner publishing", func() bool { return len(c.Events()) >= 10 })
	if err := b.Ownership.Release(ctx, la); err != nil {
		t.Fatal(err)
	}
	lb, ok := acquire(t, b.Ownership, ten, nb, time.Minute)
	if !ok {
		t.Fatal("takeover")
	}
	const nB = 10
	for i := range nB {
		if err := b.Bus.PublishFenced(ctx, lb, []cluster.Event{{Name: "b", Key: fmt.Sprintf("obj/%d", i%5), Data: raw(`{}`)}}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	c.WaitN(t, accepted+nB)
	time.Sleep(100 * time.Millisecond)
	got := c.Events()
	if len(got) != accepted+nB {
		t.Fatalf("%d events delivered, want the %d accepted", len(got), accepted+nB)
	}
	if n := c.Resyncs(); n != 0 {
		t.Fatalf("%d resync signals without a loss", n)
	}
	for i, ev := range got {
		want, epoch := "a", la.Epoch
		if i >= accepted {
			want, epoch = "b", lb.Epoch
		}
		if ev.Name != want || ev.Epoch != epoch {
			t.Fatalf("event %d = %s epoch %d, want %s epoch %d", i, ev.Name, ev.Epoch, want, epoch)
		}
		if i > 0 && ev.Seq != got[i-1].Seq+1 {
			t.Fatalf("event %d: seq %d after %d without a resync", i, ev.Seq, got[i-1].Seq)
		}
	}
}

// testBusStamps: PublishFenced stamps Origin (the lease's node) and Time
// when the owner left them empty; Publish stamps Time.
func testBusStamps(t *testing.T, b cluster.Backend) {
	ctx := Ctx(t)
	ten, node := Unique("t"), Unique("n")
	c := subscribe(t, b.Bus, ten)
	l, ok := acquire(t, b.Ownership, ten, node, time.Minute)
	if !ok {
		t.Fatal("acquire")
	}
	before := time.Now().UnixNano()
	if err := b.Bus.PublishFenced(ctx, l, []cluster.Event{{Name: "owner"}, {Name: "timed", Time: 123}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Bus.Publish(ctx, cluster.Event{Tenant: ten, Name: "node", Origin: "n1"}); err != nil {
		t.Fatal(err)
	}
	got := c.WaitN(t, 3)
	after := time.Now().UnixNano()
	if g := got[0]; g.Origin != node || g.Time < before || g.Time > after {
		t.Errorf("fenced event origin %q time %d; want %q, a time in [%d, %d]", g.Origin, g.Time, node, before, after)
	}
	if g := got[1]; g.Origin != node || g.Time != 123 {
		t.Errorf("fenced event origin %q time %d; want %q, the time given (123)", g.Origin, g.Time, node)
	}
	if g := got[2]; g.Origin != "n1" || g.Time < before || g.Time > after {
		t.Errorf("node event origin %q time %d; want n1, a time in [%d, %d]", g.Origin, g.Time, before, after)
	}
}

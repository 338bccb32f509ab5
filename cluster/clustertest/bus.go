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

func busCases() []Case {
	return []Case{
		{"bus/fenced-publish-and-state", testBusFenced},
		{"bus/not-owner", testBusNotOwner},
		{"bus/seq-increasing", testBusSeq},
		{"bus/tenant-isolation", testBusIsolation},
		{"bus/unfenced", testBusUnfenced},
		{"bus/unsubscribe", testBusUnsubscribe},
	}
}

func subscribe(t *testing.T, bus cluster.Bus, tenant string) *Collector {
	t.Helper()
	c := &Collector{}
	if err := bus.Subscribe(Ctx(t), tenant, cluster.Each(c.Fn)); err != nil {
		t.Fatalf("Subscribe(%s): %v", tenant, err)
	}
	return c
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func testBusFenced(t *testing.T, b cluster.Backend) {
	ctx := Ctx(t)
	ten, node := Unique("t"), Unique("n")
	c1, c2 := subscribe(t, b.Bus, ten), subscribe(t, b.Bus, ten)
	l, ok := acquire(t, b.Ownership, ten, node, time.Minute)
	if !ok {
		t.Fatal("acquire")
	}
	evs := []cluster.Event{
		{Name: "extenChanged", Key: "exten/201", Data: raw(`{"exten":"201","status":"online"}`)},
		{Name: "extenChanged", Key: "exten/202", Data: raw(`{"exten":"202"}`)},
		{Name: "confBridgeConfChanged", Key: "conf/9", Data: raw(`{"id":"9"}`)},
		{Name: "queueChanged", Key: "queue/400", Data: raw(`{"queue":"400"}`)},
	}
	if err := b.Bus.PublishFenced(ctx, l, evs); err != nil {
		t.Fatalf("PublishFenced: %v", err)
	}
	if err := b.Bus.PublishFenced(ctx, l, []cluster.Event{
		{Name: "extenChanged", Key: "exten/201", Data: raw(`{"exten":"201","status":"busy"}`)},
		{Name: "confBridgeConfEnd", Key: "conf/9", Del: true},
		{Name: "extenHangup", Data: raw(`{"exten":"202"}`)}, // not keyed: no state
	}); err != nil {
		t.Fatalf("PublishFenced: %v", err)
	}
	for i, c := range []*Collector{c1, c2} {
		got := c.WaitN(t, 7)
		if len(got) != 7 {
			t.Fatalf("subscriber %d got %d events: %s", i, len(got), Names(got))
		}
		for j, ev := range got {
			if ev.Tenant != ten || ev.Epoch != l.Epoch {
				t.Fatalf("event %d = %+v: tenant/epoch not set from the lease %+v", j, ev, l)
			}
			if j > 0 && ev.Seq <= got[j-1].Seq {
				t.Fatalf("seq not increasing: %d after %d", ev.Seq, got[j-1].Seq)
			}
		}
		if got[0].Name != "extenChanged" || got[0].Key != "exten/201" || string(got[0].Data) != `{"exten":"201","status":"online"}` {
			t.Fatalf("first event = %+v", got[0])
		}
		if got[5].Name != "confBridgeConfEnd" || !got[5].Del || got[6].Name != "extenHangup" {
			t.Fatalf("event order = %s", Names(got))
		}
	}
	last := c1.Events()[6].Seq
	objs, seq, err := b.Bus.State(ctx, ten, "")
	if err != nil {
		t.Fatal(err)
	}
	if seq != last {
		t.Fatalf("State seq = %d, want the last published %d", seq, last)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	if fmt.Sprint(keys) != "[exten/201 exten/202 queue/400]" {
		t.Fatalf("State keys = %v (sorted, conf/9 deleted)", keys)
	}
	if string(objs[0].Data) != `{"exten":"201","status":"busy"}` || objs[0].Seq != c1.Events()[4].Seq {
		t.Fatalf("exten/201 = %+v, want the second version at seq %d", objs[0], c1.Events()[4].Seq)
	}
	if objs[1].Seq != c1.Events()[1].Seq {
		t.Fatalf("exten/202 seq = %d, want %d", objs[1].Seq, c1.Events()[1].Seq)
	}
	objs, _, err = b.Bus.State(ctx, ten, "exten/")
	if err != nil || len(objs) != 2 || objs[0].Key != "exten/201" || objs[1].Key != "exten/202" {
		t.Fatalf("State(exten/) = %+v, %v", objs, err)
	}
	// An empty keyed event with nil Data also deletes.
	if err := b.Bus.PublishFenced(ctx, l, []cluster.Event{{Name: "queueChanged", Key: "queue/400"}}); err != nil {
		t.Fatal(err)
	}
	if objs, _, _ := b.Bus.State(ctx, ten, "queue/"); len(objs) != 0 {
		t.Fatalf("queue/400 not deleted by a nil-Data event: %+v", objs)
	}
	if objs, seq, err := b.Bus.State(ctx, Unique("empty"), ""); err != nil || len(objs) != 0 || seq != 0 {
		t.Fatalf("State of an unknown tenant = %v, %d, %v", objs, seq, err)
	}
}

func testBusNotOwner(t *testing.T, b cluster.Backend) {
	ctx := Ctx(t)
	ten, na, nb := Unique("t"), Unique("na"), Unique("nb")
	c := subscribe(t, b.Bus, ten)
	ev := []cluster.Event{{Name: "extenChanged", Key: "exten/1", Data: raw(`{"v":1}`)}}
	// No lease at all.
	if err := b.Bus.PublishFenced(ctx, cluster.Lease{Tenant: ten, Node: na, Epoch: 1}, ev); !errors.Is(err, cluster.ErrNotOwner) {
		t.Fatalf("publish without a lease: %v, want ErrNotOwner", err)
	}
	la, ok := acquire(t, b.Ownership, ten, na, time.Minute)
	if !ok {
		t.Fatal("acquire")
	}
	// Another node, or the right node with a wrong epoch.
	for _, bad := range []cluster.Lease{
		{Tenant: ten, Node: nb, Epoch: la.Epoch},
		{Tenant: ten, Node: na, Epoch: la.Epoch + 1},
		{Tenant: Unique("other"), Node: na, Epoch: la.Epoch},
	} {
		if err := b.Bus.PublishFenced(ctx, bad, ev); !errors.Is(err, cluster.ErrNotOwner) {
			t.Fatalf("publish with %+v: %v, want ErrNotOwner", bad, err)
		}
	}
	// Stale after release and takeover.
	if err := b.Ownership.Release(ctx, la); err != nil {
		t.Fatal(err)
	}
	lb, ok := acquire(t, b.Ownership, ten, nb, time.Minute)
	if !ok {
		t.Fatal("takeover")
	}
	if err := b.Bus.PublishFenced(ctx, la, ev); !errors.Is(err, cluster.ErrNotOwner) {
		t.Fatalf("publish by the former owner: %v, want ErrNotOwner", err)
	}
	if objs, seq, err := b.Bus.State(ctx, ten, ""); err != nil || len(objs) != 0 || seq != 0 {
		t.Fatalf("refused publishes changed the state: %+v seq %d %v", objs, seq, err)
	}
	if err := b.Bus.PublishFenced(ctx, lb, []cluster.Event{{Name: "marker"}}); err != nil {
		t.Fatal(err)
	}
	c.WaitFor(t, "marker")
	if got := c.Events(); len(got) != 1 || got[0].Epoch != lb.Epoch {
		t.Fatalf("subscriber got %s (%+v); refused events must not be delivered", Names(got), got)
	}
}

func testBusSeq(t *testing.T, b cluster.Backend) {
	ctx := Ctx(t)
	ten, node := Unique("t"), Unique("n")
	c := subscribe(t, b.Bus, ten)
	l, ok := acquire(t, b.Ownership, ten, node, time.Minute)
	if !ok {
		t.Fatal("acquire")
	}
	const workers, per = 4, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				key := fmt.Sprintf("obj/%d", (w*per+i)%10)
				if err := b.Bus.PublishFenced(ctx, l, []cluster.Event{{Name: "changed", Key: key, Data: raw(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))}}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := c.WaitN(t, workers*per)
	for i := 1; i < len(got); i++ {
		if got[i].Seq <= got[i-1].Seq {
			t.Fatalf("seq %d after %d at %d", got[i].Seq, got[i-1].Seq, i)
		}
	}
	if n := got[len(got)-1].Seq - got[0].Seq + 1; n != workers*per {
		t.Fatalf("seq span %d for %d events: a seq was skipped", n, workers*per)
	}
	objs, seq, err := b.Bus.State(ctx, ten, "obj/")
	if err != nil || len(objs) != 10 || seq != got[len(got)-1].Seq {
		t.Fatalf("State = %d objects, seq %d, %v; want 10, %d", len(objs), seq, err, got[len(got)-1].Seq)
	}
	// Each object holds the data of the last event for its key.
	lastFor := map[string]cluster.Event{}
	for _, ev := range got {
		lastFor[ev.Key] = ev
	}
	for _, o := range objs {
		if ev := lastFor[o.Key]; o.Seq != ev.Seq || string(o.Data) != string(ev.Data) {
			t.Fatalf("object %+v, last event %+v", o, ev)
		}
	}
}

func testBusIsolation(t *testing.T, b cluster.Backend) {
	ctx := Ctx(t)
	ta, tb, node := Unique("ta"), Unique("tb"), Unique("n")
	ca, cb := subscribe(t, b.Bus, ta), subscribe(t, b.Bus, tb)
	la, _ := acquire(t, b.Ownership, ta, node, time.Minute)
	lb, _ := acquire(t, b.Ownership, tb, node, time.Minute)
	if err := b.Bus.PublishFenced(ctx, la, []cluster.Event{{Name: "a1", Key: "k/1", Data: raw(`1`)}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Bus.Publish(ctx, cluster.Event{Tenant: ta, Name: "a2"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Bus.PublishFenced(ctx, lb, []cluster.Event{{Name: "b1", Key: "k/1", Data: raw(`2`)}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Bus.Publish(ctx, cluster.Event{Tenant: tb, Name: "b2"}); err != nil {
		t.Fatal(err)
	}
	ca.WaitFor(t, "a2")
	cb.WaitFor(t, "b2")
	if got := Names(ca.Events()); got != "a1,a2" {
		t.Fatalf("tenant A got %s", got)
	}
	if got := Names(cb.Events()); got != "b1,b2" {
		t.Fatalf("tenant B got %s", got)
	}
	for _, ev := range cb.Events() {
		if ev.Tenant != tb {
			t.Fatalf("tenant B got %+v", ev)
		}
	}
	oa, _, _ := b.Bus.State(ctx, ta, "")
	ob, _, _ := b.Bus.State(ctx, tb, "")
	if len(oa) != 1 || string(oa[0].Data) != "1" || len(ob) != 1 || string(ob[0].Data) != "2" {
		t.Fatalf("states mixed: A %+v B %+v", oa, ob)
	}
}

func testBusUnfenced(t *testing.T, b cluster.Backend) {
	ten := Unique("t")
	c := subscribe(t, b.Bus, ten)
	in := cluster.Event{Tenant: ten, Name: "presence", Target: "alice", Origin: "n1", From: "bob", Time: 123, Data: raw(`{"status":"dnd"}`)}
	if err := b.Bus.Publish(Ctx(t), in); err != nil {
		t.Fatal(err)
	}
	if err := b.Bus.Publish(Ctx(t), cluster.Event{Tenant: ten, Name: "second", Target: "socket:abc"}); err != nil {
		t.Fatal(err)
	}
	got := c.WaitN(t, 2)
	if g := got[0]; g.Name != in.Name || g.Target != in.Target || g.Origin != in.Origin || g.From != in.From || g.Time != in.Time ||
		string(g.Data) != string(in.Data) || g.Tenant != ten || g.Seq != 0 || g.Epoch != 0 {
		t.Fatalf("got %+v, want %+v", g, in)
	}
	if got[1].Name != "second" || got[1].Target != "socket:abc" {
		t.Fatalf("second = %+v", got[1])
	}
	if objs, _, _ := b.Bus.State(Ctx(t), ten, ""); len(objs) != 0 {
		t.Fatalf("unfenced publish stored state: %+v", objs)
	}
}

func testBusUnsubscribe(t *testing.T, b cluster.Backend) {
	ten := Unique("t")
	ctx, cancel := context.WithCancel(Ctx(t))
	gone := &Collector{}
	if err := b.Bus.Subscribe(ctx, ten, cluster.Each(gone.Fn)); err != nil {
		t.Fatal(err)
	}
	stay := subscribe(t, b.Bus, ten)
	if err := b.Bus.Publish(Ctx(t), cluster.Event{Tenant: ten, Name: "one"}); err != nil {
		t.Fatal(err)
	}
	gone.WaitFor(t, "one")
	cancel()
	time.Sleep(100 * time.Millisecond)
	if err := b.Bus.Publish(Ctx(t), cluster.Event{Tenant: ten, Name: "two"}); err != nil {
		t.Fatal(err)
	}
	stay.WaitFor(t, "two")
	time.Sleep(100 * time.Millisecond)
	if gone.Has("two") {
		t.Fatal("event delivered after the subscription's context ended")
	}
}

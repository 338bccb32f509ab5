package redisbackend

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/clustertest"
	"github.com/ctiws/ctiws/cluster/clustertest/redisserver"
)

// TestHubOrder: the hub, not its subscribers, enforces a tenant's order:
// a gap or a regression in Seq queues a resync before the event, an event
// of an epoch older than the highest seen is dropped, and a node event
// passes with Epoch and Seq zero. Messages are written to the channel by
// hand, as a lost or late message would leave them.
func TestHubOrder(t *testing.T) {
	srv := redisserver.Start(t)
	b, err := New(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	ctx := clustertest.Ctx(t)
	ten := clustertest.Unique("t")
	var (
		mu  sync.Mutex
		got []string
	)
	err = b.Cluster().Bus.Subscribe(ctx, ten, cluster.Each(func(ev cluster.Event) {
		mu.Lock()
		defer mu.Unlock()
		if clustertest.IsSyntheticResync(ev) {
			got = append(got, "RESYNC")
			return
		}
		got = append(got, fmt.Sprintf("%s/%d/%d", ev.Name, ev.Epoch, ev.Seq))
	}))
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{
		`s:5:{"t":"x","e":2,"n":"a"}`,
		`s:6:{"e":2,"n":"b"}`,
		`s:9:{"e":2,"n":"gap"}`,
		`s:10:{"e":1,"n":"stale"}`,
		`s:11:{"e":3,"n":"c"}`,
		`s:2:{"e":1,"n":"back"}`,
		`u:{"e":7,"s":4,"n":"node"}`,
		`garbage`,
		`s:3:{"e":1,"n":"last"}`,
	} {
		if err := b.rdb.SPublish(ctx, eventsChannel(ten), msg).Err(); err != nil {
			t.Fatal(err)
		}
	}
	want := "a/2/5 b/2/6 RESYNC gap/2/9 c/3/11 RESYNC back/1/2 node/0/0 last/1/3"
	clustertest.Eventually(t, clustertest.Bound, "the last event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0 && strings.HasPrefix(got[len(got)-1], "last/")
	})
	mu.Lock()
	have := strings.Join(got, " ")
	mu.Unlock()
	if have != want {
		t.Errorf("delivered %s\nwant      %s", have, want)
	}
	if s := b.Stats(); s.Gaps != 2 || s.StaleEpoch != 1 {
		t.Errorf("stats %+v: want 2 gaps, 1 stale epoch", s)
	}
}

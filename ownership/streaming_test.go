package ownership

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/memory"
)

func TestPollStreamsPublishesChangedFrames(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		w.Header().Set("Content-Type", "image/jpeg")
		// The frame changes every third request.
		_, _ = io.WriteString(w, "frame-"+string(rune('a'+(n-1)/3)))
	}))
	defer srv.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", 500) }))
	defer broken.Close()

	mb := memory.New()
	defer mb.Close()
	b := mb.Cluster()
	var mu sync.Mutex
	var got []cluster.Event
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := b.Bus.Subscribe(ctx, "t", cluster.Each(func(ev cluster.Event) {
		mu.Lock()
		got = append(got, ev)
		mu.Unlock()
	})); err != nil {
		t.Fatal(err)
	}
	pctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		pollStreams(pctx, "t", "n1", []Stream{{ID: "Gate", URL: srv.URL, Framerate: 50}, {ID: "dead", URL: broken.URL, Framerate: 50}},
			b.Bus, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
		close(done)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for hits.Load() < 9 {
		if time.Now().After(deadline) {
			t.Fatal("source not polled")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	n := hits.Load()
	if len(got) == 0 || int64(len(got)) > (n+2)/3 {
		t.Fatalf("%d events for %d fetches: want one per changed frame", len(got), n)
	}
	for _, ev := range got {
		if ev.Name != "streamingSourceUpdate" || ev.Target != "stream:gate" {
			t.Fatalf("event %+v", ev)
		}
		var args []map[string]map[string]string
		if err := json.Unmarshal(ev.Data, &args); err != nil || len(args) != 1 {
			t.Fatalf("payload %s", ev.Data)
		}
		s := args[0]["streaming"]
		if s["source"] != "Gate" || !strings.HasPrefix(s["image"], "data:image/jpeg;base64,") {
			t.Fatalf("payload %v", s)
		}
	}
}

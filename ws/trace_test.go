package ws_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/pbx"
	"github.com/ctiws/ctiws/ws"
)

// tracer collects the frames of one trace.
type tracer struct {
	mu     sync.Mutex
	frames []ws.TracedFrame
}

func (tr *tracer) add(f ws.TracedFrame) {
	tr.mu.Lock()
	tr.frames = append(tr.frames, ws.TracedFrame{Frame: append([]byte(nil), f.Frame...), Cause: f.Cause})
	tr.mu.Unlock()
}

// find returns the first frame that starts like the event name.
func (tr *tracer) find(name string) (ws.TracedFrame, bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, f := range tr.frames {
		if strings.HasPrefix(string(f.Frame), `42["`+name+`"`) {
			return f, true
		}
	}
	return ws.TracedFrame{}, false
}

// TestTrace: a trace gets the frames the user's sockets get, masked as the
// user sees them (or as with privacy on, when asked), with the bus event
// that caused them; it is no socket of the user anywhere else and stops
// with its context.
func TestTrace(t *testing.T) {
	e := newEnv(t)
	dave := e.login("t1", "dave", "desktop")
	cases := []struct {
		user     string
		masked   bool
		has, not string
	}{
		{"alice", false, "0549111222", "0549111xxx"}, // no privacy
		{"alice", true, "0549111xxx", "0549111222"},  // traced with privacy on
		{"dave", false, "0549111xxx", "0549111222"},  // privacy user
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	trs := make([]*tracer, len(cases))
	for i, tc := range cases {
		trs[i] = &tracer{}
		if err := e.srv.Trace(ctx, "t1", tc.user, tc.masked, trs[i].add); err != nil {
			t.Fatal(err)
		}
	}
	if socks := e.srv.Sockets("t1"); len(socks) != 1 || socks[0].User != "dave" {
		t.Fatalf("Sockets = %+v, want dave's only (tracing sockets are not listed)", socks)
	}
	e.publish("t1", cluster.Event{Name: pbx.EvExtenChanged, Key: "exten/202", Data: mustJSON(t, testExtension("202", "bob"))})
	e.settle("t1", dave)
	real := dave.events("extenUpdate")
	if len(real) != 1 {
		t.Fatalf("dave's socket got %d extenUpdate", len(real))
	}
	for i, tc := range cases {
		t.Run(tc.user, func(t *testing.T) {
			deadline := time.Now().Add(5 * time.Second)
			f, ok := trs[i].find("extenUpdate")
			for ; !ok && time.Now().Before(deadline); f, ok = trs[i].find("extenUpdate") {
				time.Sleep(5 * time.Millisecond)
			}
			if !ok {
				t.Fatal("no extenUpdate traced")
			}
			if s := string(f.Frame); !strings.Contains(s, tc.has) || strings.Contains(s, tc.not) {
				t.Fatalf("frame %s: want %s, not %s", s, tc.has, tc.not)
			}
			if f.Cause == nil || f.Cause.Name != pbx.EvExtenChanged || f.Cause.Key != "exten/202" {
				t.Fatalf("cause %+v, want the extenChanged of exten/202", f.Cause)
			}
		})
	}
	if err := e.srv.Trace(ctx, "t1", "nobody", false, func(ws.TracedFrame) {}); !errors.Is(err, ws.ErrUnknownTraceTarget) {
		t.Errorf("unknown user: %v", err)
	}
	if err := e.srv.Trace(ctx, "t9", "alice", false, func(ws.TracedFrame) {}); !errors.Is(err, ws.ErrUnknownTraceTarget) {
		t.Errorf("unknown tenant: %v", err)
	}
	// Once its context ends, a trace gets nothing more.
	cancel()
	time.Sleep(50 * time.Millisecond)
	n := len(trs[0].frames)
	e.publish("t1", cluster.Event{Name: pbx.EvExtenChanged, Key: "exten/203", Data: mustJSON(t, testExtension("203", "carol"))})
	e.settle("t1", dave)
	trs[0].mu.Lock()
	defer trs[0].mu.Unlock()
	if len(trs[0].frames) != n {
		t.Fatalf("a stopped trace got %d more frames", len(trs[0].frames)-n)
	}
}

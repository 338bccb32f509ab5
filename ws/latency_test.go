package ws_test

import (
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/pbx"
	"github.com/ctiws/ctiws/ws"
	"github.com/prometheus/client_golang/prometheus"
)

// sampleCount is a histogram's observation count in reg (0: not there).
func sampleCount(t *testing.T, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			var n uint64
			for _, m := range mf.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
			}
			return n
		}
	}
	return 0
}

// TestLatencyHistograms: a bus event routed to a socket observes
// ctiws_event_to_write_seconds when its frame is written, and a client's
// answer to an Engine.IO ping observes ctiws_client_ping_rtt_seconds.
func TestLatencyHistograms(t *testing.T) {
	e := newEnvWith(t, nil, nil, func(o *ws.Options) {
		o.PingInterval = 100 * time.Millisecond // the sweep pings at its next tick
		o.PingTimeout = 10 * time.Second
	})
	alice := e.login("t1", "alice", "desktop")
	e.settle("t1", alice) // a node event: written, so observed
	before := sampleCount(t, e.reg, "ctiws_event_to_write_seconds")
	if before == 0 {
		t.Fatal("ctiws_event_to_write_seconds: no observation after a bus event was delivered")
	}
	e.publish("t1", cluster.Event{Name: pbx.EvExtenChanged, Key: "exten/202", Data: mustJSON(t, testExtension("202", "bob"))})
	e.settle("t1", alice)
	if got := sampleCount(t, e.reg, "ctiws_event_to_write_seconds"); got <= before {
		t.Fatalf("ctiws_event_to_write_seconds: %d observations after an owner event and a marker, %d before", got, before)
	}
	// The client answers the sweep's pings (every 500 ms at most).
	for deadline := time.Now().Add(10 * time.Second); sampleCount(t, e.reg, "ctiws_client_ping_rtt_seconds") == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("ctiws_client_ping_rtt_seconds: no observation while the client answered pings")
		}
	}
}

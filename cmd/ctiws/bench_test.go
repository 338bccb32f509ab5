package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ctiws/ctiws/cmd/ctiws/internal/bench"
)

// Both load clients log in to a real node (this test binary, re-executed
// as `ctiws serve`), receive every change of a short real-traffic window
// and report it: every client holds every final state, nothing is missing,
// and the frames counted are the two of each change.
func TestBenchLoadClients(t *testing.T) {
	t.Setenv("CTIWSTEST_EXEC", "1") // the nodes the bench starts run run(), see TestMain
	for _, lc := range []string{bench.LoadEpoll, bench.LoadGoroutines} {
		t.Run(lc, func(t *testing.T) {
			dir := t.TempDir()
			js := filepath.Join(dir, "report.json")
			var out, errb bytes.Buffer
			code := run([]string{"bench", "-scenario", "fanout", "-presence", "-nodes", "1", "-clients", "40", "-rate", "40",
				"-duration", "1s", "-load-client", lc, "-log-dir", filepath.Join(dir, "logs"), "-json", js}, &out, &errb)
			if code != 0 {
				t.Fatalf("exit %d: %s\n%s", code, errb.String(), out.String())
			}
			raw, err := os.ReadFile(js)
			if err != nil {
				t.Fatal(err)
			}
			var r bench.Report
			if err := json.Unmarshal(raw, &r); err != nil {
				t.Fatal(err)
			}
			if r.LoadClient != lc || len(r.Results) != 1 || r.Results[0].Error != "" || len(r.Results[0].Fanout) != 1 {
				t.Fatalf("report: load client %q, results %+v\n%s", r.LoadClient, r.Results, out.String())
			}
			w := r.Results[0].Fanout[0].Runs[0]
			if w.Written == 0 || w.Missing != 0 || w.Delivered != w.Expected || w.Connected != 40 || w.SlowConsumers != 0 {
				t.Fatalf("window: written %d, delivered %d of %d, missing %d, connected %d, slow consumers %v\n%s",
					w.Written, w.Delivered, w.Expected, w.Missing, w.Connected, w.SlowConsumers, out.String())
			}
			if w.Frames < 2*w.Delivered { // an extenUpdate and a userMainPresenceUpdate per change
				t.Errorf("frames %d for %d changes delivered: want two per change", w.Frames, w.Delivered)
			}
			if w.P99Ms <= 0 {
				t.Errorf("p99 %v ms: no latency recorded", w.P99Ms)
			}
		})
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
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

// -ab and -pairs are checked before anything starts.
func TestBenchABFlags(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "ctiws")
	if err := os.WriteFile(exe, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"one executable", []string{"-scenario", "fanout", "-ab", exe}, "want two executables"},
		{"an empty side", []string{"-scenario", "fanout", "-ab", exe + ","}, "want two executables"},
		{"with -ctiws", []string{"-scenario", "fanout", "-ab", exe + "," + exe, "-ctiws", exe}, "drop -ctiws"},
		{"with -pprof", []string{"-scenario", "fanout", "-ab", exe + "," + exe, "-pprof", t.TempDir()}, "-pprof"},
		{"a scenario without its figures", []string{"-scenario", "memory", "-ab", exe + "," + exe}, "not \"memory\""},
		{"-pairs alone", []string{"-scenario", "fanout", "-pairs", "3"}, "-pairs needs -ab"},
		{"negative -pairs", []string{"-scenario", "fanout", "-ab", exe + "," + exe, "-pairs", "-1"}, "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := cmdBench(t.Context(), tt.args, &out, &errOut)
			var u errUsage
			if !errors.As(err, &u) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("cmdBench(%q) = %v, want a usage error with %q", tt.args, err, tt.want)
			}
		})
	}
}

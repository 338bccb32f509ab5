package bench

import (
	"bytes"
	"cmp"
	"strings"
	"testing"
)

func TestVerdicts(t *testing.T) {
	tests := []struct {
		name     string
		scenario string // "" for quick
		res      Result
		wantMet  []bool
		wantText string
	}{
		{"idle met", "", Result{Name: "idle", Idle: &IdleResult{RSSPerConnKiB: 9}}, []bool{true}, "9.00 KiB"},
		{"idle missed", "", Result{Name: "idle", Idle: &IdleResult{RSSPerConnKiB: 13}}, []bool{false}, "13.00 KiB"},
		{"idle failures", "", Result{Name: "idle", Idle: &IdleResult{RSSPerConnKiB: 9, Failed: 1}}, []bool{false}, "1 failed"},
		{"fanout mixed", "", Result{Name: "fanout", Fanout: []FanoutResult{{Rate: 20, P99Ms: 12, Missing: 0, CPUUsPerMsg: 9}}},
			[]bool{true, true, false}, "9.00 µs"},
		{"fanout missing", "", Result{Name: "fanout", Fanout: []FanoutResult{{Rate: 20, P99Ms: 40, Missing: 3, CPUUsPerMsg: 5}}},
			[]bool{false, false, true}, "3 missing"},
		{"login storm", "", Result{Name: "storm", LoginStorm: &LoginResult{AllSec: 2}}, []bool{true}, "2.00 s"},
		{"login storm slow", "", Result{Name: "storm", LoginStorm: &LoginResult{AllSec: 11}}, []bool{false}, "11.00 s"},
		{"failover lost", "", Result{Name: "failover", Failover: &FailoverResult{FlowAgainSec: 1, MissingVersions: 2}}, []bool{false}, "2 lost"},
		{"memory met", "", Result{Name: "memory", Memory: &MemoryResult{Extensions: 10000, OwnerKiBPerExten: 5.5, NonOwnerKiBPerExten: 3.25}},
			[]bool{true}, "3.25 KiB (owner 5.50 KiB)"},
		{"memory missed", "", Result{Name: "memory", Memory: &MemoryResult{Extensions: 10000, NonOwnerKiBPerExten: 4.5}}, []bool{false}, "4.50 KiB"},
		{"error", "", Result{Name: "idle", Error: "node exited"}, []bool{false}, "node exited"},
		{"skipped", "", Result{Name: "x", Skipped: "no redis"}, []bool{false}, "skipped: no redis"},
		// Issue 16's targets for real traffic (presence runs).
		{"traffic 1,000 met", ScenarioTraffic, Result{Name: "t", Fanout: []FanoutResult{{Clients: 1000, Rate: 100, Presence: true, P99Ms: 40, CPUUsPerFrame: 9}}},
			[]bool{true, true}, "40.0 ms"},
		{"traffic 5,000 slow p99", ScenarioTraffic, Result{Name: "t", Fanout: []FanoutResult{{Clients: 5000, Rate: 20, Presence: true, P99Ms: 151, CPUUsPerFrame: 4.5, FramesPerWrite: 2.1}}},
			[]bool{false, true, true}, "4.50 µs (2.10 frames/write)"},
		{"traffic disconnects", ScenarioTraffic, Result{Name: "t", Fanout: []FanoutResult{{Clients: 10000, Rate: 10, Presence: true, P99Ms: 100, CPUUsPerFrame: 5.5,
			Runs: []Window{{SlowConsumers: 2}, {}}}}}, []bool{true, false, false}, "0 missing, 2 disconnects"},
		{"traffic idle", ScenarioTraffic, Result{Name: "idle", Idle: &IdleResult{RSSPerConnKiB: 9.16}}, []bool{false}, "9.16 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Report{Scenario: cmp.Or(tt.scenario, ScenarioQuick), Results: []Result{tt.res}}
			vs := r.Verdicts()
			if len(vs) != len(tt.wantMet) {
				t.Fatalf("%d verdicts, want %d: %+v", len(vs), len(tt.wantMet), vs)
			}
			for i, v := range vs {
				if v.Met != tt.wantMet[i] {
					t.Errorf("verdict %d %+v: met %v, want %v", i, v, v.Met, tt.wantMet[i])
				}
			}
			var buf bytes.Buffer
			r.WriteText(&buf)
			if !strings.Contains(buf.String(), tt.wantText) || !strings.Contains(buf.String(), "targets met") {
				t.Errorf("text lacks %q or the summary:\n%s", tt.wantText, buf.String())
			}
		})
	}
}

func TestCheckLoadClient(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"", LoadEpoll, ""},
		{LoadEpoll, LoadEpoll, ""},
		{LoadGoroutines, LoadGoroutines, ""},
		{"threads", "", `unknown load client "threads"`},
	}
	for _, tt := range tests {
		got, err := checkLoadClient(tt.in)
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("checkLoadClient(%q) = %q, %v; want %q, error %q", tt.in, got, err, tt.want, tt.err)
		}
	}
}

package bench

import (
	"bytes"
	"strings"
	"testing"
)

func TestVerdicts(t *testing.T) {
	tests := []struct {
		name     string
		res      Result
		wantMet  []bool
		wantText string
	}{
		{"idle met", Result{Name: "idle", Idle: &IdleResult{RSSPerConnKiB: 9}}, []bool{true}, "9.00 KiB"},
		{"idle missed", Result{Name: "idle", Idle: &IdleResult{RSSPerConnKiB: 13}}, []bool{false}, "13.00 KiB"},
		{"idle failures", Result{Name: "idle", Idle: &IdleResult{RSSPerConnKiB: 9, Failed: 1}}, []bool{false}, "1 failed"},
		{"fanout mixed", Result{Name: "fanout", Fanout: []FanoutResult{{Rate: 20, P99Ms: 12, Missing: 0, CPUUsPerMsg: 9}}},
			[]bool{true, true, false}, "9.00 µs"},
		{"fanout missing", Result{Name: "fanout", Fanout: []FanoutResult{{Rate: 20, P99Ms: 40, Missing: 3, CPUUsPerMsg: 5}}},
			[]bool{false, false, true}, "3 missing"},
		{"login storm", Result{Name: "storm", LoginStorm: &LoginResult{AllSec: 2}}, []bool{true}, "2.00 s"},
		{"login storm slow", Result{Name: "storm", LoginStorm: &LoginResult{AllSec: 11}}, []bool{false}, "11.00 s"},
		{"failover lost", Result{Name: "failover", Failover: &FailoverResult{FlowAgainSec: 1, MissingVersions: 2}}, []bool{false}, "2 lost"},
		{"memory met", Result{Name: "memory", Memory: &MemoryResult{Extensions: 10000, OwnerKiBPerExten: 5.5, NonOwnerKiBPerExten: 3.25}},
			[]bool{true}, "3.25 KiB (owner 5.50 KiB)"},
		{"memory missed", Result{Name: "memory", Memory: &MemoryResult{Extensions: 10000, NonOwnerKiBPerExten: 4.5}}, []bool{false}, "4.50 KiB"},
		{"error", Result{Name: "idle", Error: "node exited"}, []bool{false}, "node exited"},
		{"skipped", Result{Name: "x", Skipped: "no redis"}, []bool{false}, "skipped: no redis"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Report{Scenario: "quick", Results: []Result{tt.res}}
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

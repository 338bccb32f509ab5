package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestCompareAB(t *testing.T) {
	nan := math.NaN()
	fig := func(step, name string, v float64) figure { return figure{step: step, name: name, value: v} }
	tests := []struct {
		name     string
		a, b     [][]figure
		want     map[string][]float64 // step/figure -> ratios
		median   map[string]float64   // NaN: no ratio
		min, max map[string]float64
	}{
		{
			name: "ratios pair by pair",
			a:    [][]figure{{fig("s", "cpu", 2)}, {fig("s", "cpu", 4)}, {fig("s", "cpu", 5)}},
			b:    [][]figure{{fig("s", "cpu", 3)}, {fig("s", "cpu", 4)}, {fig("s", "cpu", 4)}},
			want: map[string][]float64{"s/cpu": {1.5, 1, 0.8}},
			// Pairs, not sides: the median of the ratios, not the ratio
			// of the medians (4/4 = 1 here too, by chance).
			median: map[string]float64{"s/cpu": 1},
			min:    map[string]float64{"s/cpu": 0.8},
			max:    map[string]float64{"s/cpu": 1.5},
		},
		{
			name:   "A zero or missing: no ratio for that pair",
			a:      [][]figure{{fig("s", "missing", 0)}, {}, {fig("s", "missing", 2)}},
			b:      [][]figure{{fig("s", "missing", 5)}, {fig("s", "missing", 1)}, {fig("s", "missing", 1)}},
			want:   map[string][]float64{"s/missing": {0.5}},
			median: map[string]float64{"s/missing": 0.5},
			min:    map[string]float64{"s/missing": 0.5},
			max:    map[string]float64{"s/missing": 0.5},
		},
		{
			name:   "a figure only one side has",
			a:      [][]figure{{fig("s", "p99", 10), fig("s", "rss", 8)}},
			b:      [][]figure{{fig("s", "p99", 12)}},
			want:   map[string][]float64{"s/p99": {1.2}, "s/rss": nil},
			median: map[string]float64{"s/p99": 1.2, "s/rss": nan},
			min:    map[string]float64{"s/p99": 1.2, "s/rss": nan},
			max:    map[string]float64{"s/p99": 1.2, "s/rss": nan},
		},
		{
			name:   "steps kept apart",
			a:      [][]figure{{fig("x", "p99", 10), fig("y", "p99", 20)}, {fig("x", "p99", 10), fig("y", "p99", 20)}},
			b:      [][]figure{{fig("x", "p99", 5), fig("y", "p99", 30)}, {fig("x", "p99", 15), fig("y", "p99", 20)}},
			want:   map[string][]float64{"x/p99": {0.5, 1.5}, "y/p99": {1.5, 1}},
			median: map[string]float64{"x/p99": 1, "y/p99": 1.25},
			min:    map[string]float64{"x/p99": 0.5, "y/p99": 1},
			max:    map[string]float64{"x/p99": 1.5, "y/p99": 1.5},
		},
	}
	same := func(a, b float64) bool {
		return (math.IsNaN(a) && math.IsNaN(b)) || math.Abs(a-b) < 1e-9
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := compareAB(tt.a, tt.b)
			if len(got) != len(tt.want) {
				t.Fatalf("%d comparisons, want %d: %+v", len(got), len(tt.want), got)
			}
			for _, f := range got {
				k := f.Step + "/" + f.Figure
				want, ok := tt.want[k]
				if !ok {
					t.Fatalf("unexpected comparison %s", k)
				}
				if len(f.Ratios) != len(want) {
					t.Fatalf("%s: ratios %v, want %v", k, f.Ratios, want)
				}
				for i := range want {
					if !same(f.Ratios[i], want[i]) {
						t.Errorf("%s: ratios %v, want %v", k, f.Ratios, want)
					}
				}
				if !same(f.RatioMedian, tt.median[k]) || !same(f.RatioMin, tt.min[k]) || !same(f.RatioMax, tt.max[k]) {
					t.Errorf("%s: median %v min %v max %v, want %v %v %v", k, f.RatioMedian, f.RatioMin, f.RatioMax, tt.median[k], tt.min[k], tt.max[k])
				}
				if len(f.A) != max(len(tt.a), len(tt.b)) || len(f.B) != len(f.A) {
					t.Errorf("%s: %d A and %d B values, want one per pair", k, len(f.A), len(f.B))
				}
			}
		})
	}
}

func TestABFigures(t *testing.T) {
	res := []Result{
		{Name: "fanout", Fanout: []FanoutResult{{Clients: 100, Rate: 20, CPUUsPerFrame: 4.5, P50Ms: 3, P99Ms: 9, Missing: 2, RSSKiB: 1000, MachineBusyPct: 40,
			Runs: []Window{{SlowConsumers: 1}, {SlowConsumers: 2}}}}},
		{Name: "idle", Idle: &IdleResult{RSSPerConnKiB: 8.5, Failed: 1}},
		{Name: "broken", Error: "boom", Fanout: []FanoutResult{{Clients: 1, Rate: 1, P99Ms: 1}}},
	}
	want := map[string]float64{
		"fanout (20/s)/" + figCPUPerFrame: 4.5,
		"fanout (20/s)/" + figP50:         3,
		"fanout (20/s)/" + figP99:         9,
		"fanout (20/s)/" + figMissing:     2,
		"fanout (20/s)/" + figDisconnects: 3,
		"fanout (20/s)/" + figRSSPerSock:  10,
		"fanout (20/s)/" + figBusy:        40,
		"idle/" + figRSSPerSock:           8.5,
		"idle/" + figMissing:              1,
	}
	got := abFigures(res)
	if len(got) != len(want) {
		t.Fatalf("%d figures, want %d: %+v", len(got), len(want), got)
	}
	for _, f := range got {
		if w, ok := want[f.step+"/"+f.name]; !ok || w != f.value {
			t.Errorf("%s/%s = %v, want %v (known: %v)", f.step, f.name, f.value, w, ok)
		}
	}
}

func TestABReport(t *testing.T) {
	a := [][]figure{{{step: "s", name: figP99, value: 10}, {step: "s", name: figMissing, value: 0, sum: true}}}
	b := [][]figure{{{step: "s", name: figP99, value: 11}, {step: "s", name: figMissing, value: 3, sum: true}}}
	r := &Report{Scenario: ScenarioFanout, AB: &ABResult{A: "old", B: "new", Pairs: 1, Figures: compareAB(a, b)}}
	var buf bytes.Buffer
	r.WriteText(&buf)
	out := buf.String()
	for _, want := range []string{"A = old", "B = new", "1.100", "missing (total)", "—"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "verdict:") {
		t.Errorf("an A/B report has no verdict against the targets:\n%s", out)
	}
	// NaN (no ratio for missing: A is 0) must become null, not fail.
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"ratio_median":null`) || !strings.Contains(string(js), `"ratio_median":1.1`) {
		t.Errorf("JSON: %s", js)
	}
}

package bench

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestUnmasked(t *testing.T) {
	for _, tc := range []struct {
		name, json, bad string
		checked         int
	}{
		{"no conversation", `{"exten":"1001","cf":""}`, "", 0},
		{"clear cf", `{"exten":"1001","cf":"3331234567"}`, `cf "3331234567"`, 1},
		{"masked conversation", `{"exten":"1001","conversations":{"c1":{"counterpartNum":"0721xxx","counterpartName":"xxx",
			"chSource":{"callerNum":"1001xxx","callerName":"xxx","bridgedNum":"xxx","bridgedName":"xxx"}}}}`, "", 5}, // "xxx" has no digit: not a number
		{"placeholder stays", `{"exten":"1001","conversations":{"c1":{"counterpartNum":"<unknown>","counterpartName":"xxx"}}}`, "", 1},
		{"clear counterpart", `{"exten":"1001","conversations":{"c1":{"counterpartNum":"0721405516","counterpartName":"xxx"}}}`, `counterpartNum "0721405516"`, 2},
		{"clear name", `{"exten":"1001","conversations":{"c1":{"counterpartNum":"07xxx","counterpartName":"Alice"}}}`, `counterpartName "Alice"`, 2},
		{"clear channel number", `{"exten":"1001","conversations":{"c1":{"counterpartNum":"07xxx","counterpartName":"xxx","chDest":{"bridgedNum":"1002"}}}}`, `bridgedNum "1002"`, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad, n := unmasked(json.RawMessage(tc.json))
			if bad != tc.bad || (tc.bad == "" && n != tc.checked) {
				t.Errorf("unmasked = %q, %d checked; want %q, %d", bad, n, tc.bad, tc.checked)
			}
		})
	}
}

func TestSoakClientMatches(t *testing.T) {
	c := &soakClient{view: map[string]json.RawMessage{
		"1000": json.RawMessage(`{"exten":"1000","status":"online","conversations":{"a":{"duration":3}}}`),
		"1001": json.RawMessage(`{"exten":"1001","status":"busy"}`),
	}}
	snap := map[string]json.RawMessage{
		"1000": json.RawMessage(`{"conversations":{"a":{"duration":9}},"status":"online","exten":"1000"}`),
		"1001": json.RawMessage(`{"exten":"1001","status":"online"}`),
		"1002": json.RawMessage(`{"exten":"1002"}`),
	}
	if _, ready := c.matches(snap); ready {
		t.Fatal("a client without its snapshot counts as ready")
	}
	c.ready = true
	diff, _ := c.matches(snap)
	if strings.Join(diff, ",") != "1001,1002" {
		t.Errorf("diff = %v, want 1001 (status) and 1002 (missing); durations and key order do not count", diff)
	}
	c.view["1001"] = snap["1001"]
	c.view["1002"] = snap["1002"]
	if diff, _ := c.matches(snap); len(diff) != 0 {
		t.Errorf("diff = %v, want none", diff)
	}
	c.view["1003"] = json.RawMessage(`{}`)
	if diff, _ := c.matches(snap); len(diff) != 1 || diff[0] != "1003" {
		t.Errorf("an extension the snapshot lacks: diff = %v", diff)
	}
}

func TestPickSchedule(t *testing.T) {
	short := pickSchedule(90*time.Second, nil)
	if len(short) == 0 || len(short) == len(soakSchedule()) {
		t.Fatalf("short schedule has %d of %d faults", len(short), len(soakSchedule()))
	}
	var total time.Duration
	for _, f := range short {
		if f.Window > soakShortWindow {
			t.Errorf("%s: window %v above %v", f.Name, f.Window, soakShortWindow)
		}
		total += f.Window
	}
	if total > time.Minute {
		t.Errorf("short schedule's fault windows add up to %v", total)
	}
	seen := map[string]bool{}
	for _, f := range pickSchedule(time.Hour, nil) {
		if seen[f.Name] {
			t.Errorf("fault %q twice", f.Name)
		}
		seen[f.Name] = true
		if f.inject == nil {
			t.Errorf("fault %q injects nothing", f.Name)
		}
	}
}

func TestPickScheduleOnly(t *testing.T) {
	got := pickSchedule(90*time.Second, regexp.MustCompile(`^AMI`))
	if len(got) != 4 {
		t.Fatalf("AMI faults: %d, want 4", len(got))
	}
	for _, f := range got {
		if f.Window != 20*time.Second {
			t.Errorf("%s: window %v; -faults keeps the full windows", f.Name, f.Window)
		}
	}
}

func TestSoakJudge(t *testing.T) {
	samples := func(rss ...float64) []SoakSample {
		var out []SoakSample
		for i, r := range rss {
			out = append(out, SoakSample{At: float64(i), RSSMiB: []float64{r, r, r}, Goroutines: []float64{100, 100, 100}})
		}
		return out
	}
	ok := &SoakResult{Faults: []SoakWindow{{Fault: "x"}}, Samples: samples(50, 40, 41, 42)}
	ok.flatness(2)
	ok.judge()
	if !ok.Pass || !ok.FlatJudged {
		t.Errorf("flat run: pass %v judged %v, reasons %v", ok.Pass, ok.FlatJudged, ok.Reasons)
	}
	grew := &SoakResult{Faults: []SoakWindow{{Fault: "x"}}, Samples: samples(50, 40, 45, 60)}
	grew.flatness(2)
	grew.judge()
	if grew.Pass {
		t.Error("50 % RSS growth after warm-up passes")
	}
	for _, r := range []*SoakResult{
		{Faults: []SoakWindow{{Fault: "x", WrongFinal: 1}}, WrongFinal: 1},
		{Faults: []SoakWindow{{Fault: "x"}}, MaskErrors: 1},
		{Faults: []SoakWindow{{Fault: "x"}}, DoubleOwner: 1},
		{Faults: []SoakWindow{{Fault: "x", Error: "boom"}}},
		{},
	} {
		r.judge()
		if r.Pass {
			t.Errorf("%+v passes", r)
		}
	}
}

func TestMaxRecovery(t *testing.T) {
	r := &SoakResult{Faults: []SoakWindow{{Fault: "a", RecoverySec: 2}, {Fault: "b", RecoverySec: 1}, {Fault: "a", RecoverySec: 5}, {Fault: "b", RecoverySec: -1, WrongFinal: 3}}}
	got := r.maxRecovery()
	if len(got) != 2 || got[0].RecoverySec != 5 || got[1].RecoverySec != -1 || got[1].WrongFinal != 3 {
		t.Errorf("maxRecovery = %+v", got)
	}
}

func TestSpread(t *testing.T) {
	xs := make([]int, 121)
	for i := range xs {
		xs[i] = i
	}
	got := spread(xs, 16)
	if len(got) != 16 || got[0] != 0 || got[15] != 120 {
		t.Errorf("spread = %v", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Errorf("not increasing: %v", got)
		}
	}
	if got := spread(xs[:5], 16); len(got) != 5 {
		t.Errorf("short input: %v", got)
	}
}

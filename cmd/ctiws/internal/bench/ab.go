package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
)

// A/B mode (-ab OLD,NEW -pairs N, docs/benchmarks.md, section "Method"):
// the scenario runs N times with each of two executables, alternating A B
// A B …, each window on freshly started nodes. The figures of the i-th A
// window and the i-th B window form a pair; the report gives each pair's
// ratio B/A and, per figure, their median and spread. Both sides of a pair
// ran on the same machine minutes apart, so a drift in the machine's load
// moves both.

// ABScenarios lists the scenarios -ab accepts: those whose results have the
// figures of abFigures.
func ABScenarios() []string {
	return []string{ScenarioFanout, ScenarioTraffic, ScenarioIdle, ScenarioFarm}
}

// ABResult is an A/B run: the two executables, every window's figures and
// their comparison per figure.
type ABResult struct {
	A     string `json:"a"`
	B     string `json:"b"`
	Pairs int    `json:"pairs"`
	// Figures has one comparison per step and figure, in the order the
	// scenario measured them.
	Figures []ABFigure `json:"figures"`
}

// ABFigure compares one figure of one step over the pairs.
type ABFigure struct {
	Step   string `json:"step"`
	Figure string `json:"figure"`
	// A and B are the figure of each window, pair by pair (NaN: the window
	// failed or lacked the figure).
	A []float64 `json:"a"`
	B []float64 `json:"b"`
	// Ratios are B/A pair by pair, only for pairs where both are known and
	// A is not zero (a count such as missing is mostly 0 on both sides).
	Ratios []float64 `json:"ratios_b_over_a,omitempty"`
	// RatioMedian is the median of Ratios and RatioMin, RatioMax their
	// spread; NaN without ratios.
	RatioMedian float64 `json:"ratio_median"`
	RatioMin    float64 `json:"ratio_min"`
	RatioMax    float64 `json:"ratio_max"`
	// Sum marks a count (missing, disconnects): compare the totals, a
	// ratio of small counts means little.
	Sum bool `json:"sum,omitempty"`
}

// figure is one named value of a step.
type figure struct {
	step, name string
	value      float64
	sum        bool // a count: totals are compared
}

// Figure names of an A/B comparison.
const (
	figCPUPerFrame = "CPU µs/frame"
	figP50         = "p50 ms"
	figP99         = "p99 ms"
	figMissing     = "missing"
	figDisconnects = "slow-consumer disconnects"
	figRSSPerSock  = "RSS KiB/socket"
	// figBusy is the machine's busy share during the window: not a
	// figure of the build, the context to judge the others by (a pair
	// far from 1 here was measured under unequal load).
	figBusy = "machine busy %"
	// The farm's figures (FarmResult): per idle tenant with every PBX
	// quiet, and its targets' times.
	figFarmRedis     = "idle Redis commands/s per tenant"
	figFarmCPU       = "idle node CPU millicores per tenant"
	figFarmRSS       = "RSS KiB per tenant per node"
	figFarmNonOwner  = "non-owner RSS KiB per tenant"
	figFarmCalls     = "Redis commands/s with calls"
	figFarmOwned     = "all owned after a cold start s"
	figFarmTakeover  = "killed node's tenants publishing s"
	figFarmSpreadPct = "leases spread %"
)

// abFigures lists the comparable figures of one window's results, keyed by
// step (the result's name and, for a fan-out, its rate).
func abFigures(results []Result) []figure {
	var out []figure
	for _, res := range results {
		if res.Error != "" || res.Skipped != "" {
			continue
		}
		for _, f := range res.Fanout {
			step := fmt.Sprintf("%s (%g/s)", res.Name, f.Rate)
			var slow float64
			for _, r := range f.Runs {
				slow += r.SlowConsumers
			}
			out = append(out,
				figure{step: step, name: figCPUPerFrame, value: f.CPUUsPerFrame},
				figure{step: step, name: figP50, value: f.P50Ms},
				figure{step: step, name: figP99, value: f.P99Ms},
				figure{step: step, name: figMissing, value: float64(f.Missing), sum: true},
				figure{step: step, name: figDisconnects, value: slow, sum: true},
				figure{step: step, name: figBusy, value: f.MachineBusyPct})
			if f.Clients > 0 && f.RSSKiB > 0 {
				// The nodes' RSS during fan-out over the sockets: not the
				// settled idle figure, but the same for both sides.
				out = append(out, figure{step: step, name: figRSSPerSock, value: float64(f.RSSKiB) / float64(f.Clients)})
			}
		}
		if f := res.Farm; f != nil {
			out = append(out,
				figure{step: res.Name, name: figFarmRedis, value: f.RedisOpsPerTenantIdle},
				figure{step: res.Name, name: figFarmCPU, value: f.NodeMilliCPUPerTenant},
				figure{step: res.Name, name: figFarmRSS, value: f.RSSPerTenantKiB},
				figure{step: res.Name, name: figFarmNonOwner, value: f.NonOwnerPerTenantKiB},
				figure{step: res.Name, name: figFarmCalls, value: f.RedisOpsPerSecCalls},
				figure{step: res.Name, name: figFarmOwned, value: f.AllOwnedSec},
				figure{step: res.Name, name: figFarmTakeover, value: f.TakeoverPublishSec},
				figure{step: res.Name, name: figFarmSpreadPct, value: f.SpreadPct})
		}
		if i := res.Idle; i != nil {
			out = append(out, figure{step: res.Name, name: figRSSPerSock, value: i.RSSPerConnKiB},
				figure{step: res.Name, name: figMissing, value: float64(i.Failed), sum: true})
		}
	}
	return out
}

// compareAB pairs the windows' figures: a[i] and b[i] are the figures of
// the i-th A and the i-th B window. Every step and figure seen on either
// side gets a comparison; a window without it counts as NaN there.
func compareAB(a, b [][]figure) []ABFigure {
	type key struct{ step, name string }
	var order []key
	idx := map[key]int{}
	var out []ABFigure
	pairs := max(len(a), len(b))
	slot := func(f figure) *ABFigure {
		k := key{f.step, f.name}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			order = append(order, k)
			out = append(out, ABFigure{Step: f.step, Figure: f.name, Sum: f.sum, A: nanSlice(pairs), B: nanSlice(pairs)})
		}
		return &out[i]
	}
	for i := range pairs {
		if i < len(a) {
			for _, f := range a[i] {
				slot(f).A[i] = f.value
			}
		}
		if i < len(b) {
			for _, f := range b[i] {
				slot(f).B[i] = f.value
			}
		}
	}
	for i := range out {
		out[i].summarise()
	}
	return out
}

// MarshalJSON writes NaN (not measured) as null: encoding/json refuses NaN.
func (f ABFigure) MarshalJSON() ([]byte, error) {
	type plain ABFigure // without this method
	return json.Marshal(struct {
		plain
		A           []*float64 `json:"a"`
		B           []*float64 `json:"b"`
		RatioMedian *float64   `json:"ratio_median"`
		RatioMin    *float64   `json:"ratio_min"`
		RatioMax    *float64   `json:"ratio_max"`
	}{plain(f), nullable(f.A...), nullable(f.B...), nullable(f.RatioMedian)[0], nullable(f.RatioMin)[0], nullable(f.RatioMax)[0]})
}

// nullable maps NaN to nil and every other value to a pointer to it.
func nullable(xs ...float64) []*float64 {
	out := make([]*float64, len(xs))
	for i, x := range xs {
		if !math.IsNaN(x) {
			out[i] = &xs[i]
		}
	}
	return out
}

func nanSlice(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = math.NaN()
	}
	return s
}

// summarise computes the pair-by-pair ratios and their median and spread.
func (f *ABFigure) summarise() {
	f.Ratios = nil
	for i := range min(len(f.A), len(f.B)) {
		a, b := f.A[i], f.B[i]
		if math.IsNaN(a) || math.IsNaN(b) || a == 0 {
			continue
		}
		f.Ratios = append(f.Ratios, b/a)
	}
	f.RatioMedian, f.RatioMin, f.RatioMax = math.NaN(), math.NaN(), math.NaN()
	if len(f.Ratios) > 0 {
		f.RatioMedian = Median(f.Ratios)
		f.RatioMin, f.RatioMax = slices.Min(f.Ratios), slices.Max(f.Ratios)
	}
}

// known returns the values of xs that are not NaN.
func known(xs []float64) []float64 {
	var out []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			out = append(out, x)
		}
	}
	return out
}

// WriteText prints the comparison: per step and figure the median (or,
// for a count, the total) of each side, the median ratio B/A with its
// spread, and every pair's ratio.
func (r *ABResult) WriteText(w io.Writer) {
	fmt.Fprintf(w, "\n== A/B: %d pairs, alternating A B A B …\n  A = %s\n  B = %s\n", r.Pairs, r.A, r.B)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "step\tfigure\tA\tB\tB/A median\tB/A min–max\tB/A per pair")
	for _, f := range r.Figures {
		agg, label := Median, ""
		if f.Sum {
			agg, label = sum, " (total)"
		}
		ratios := make([]string, len(f.Ratios))
		for i, x := range f.Ratios {
			ratios[i] = fmt.Sprintf("%.3f", x)
		}
		fmt.Fprintf(tw, "%s\t%s%s\t%s\t%s\t%s\t%s\t%s\n", f.Step, f.Figure, label, fmtNum(agg(known(f.A))), fmtNum(agg(known(f.B))),
			fmtRatio(f.RatioMedian), fmtSpread(f.RatioMin, f.RatioMax), strings.Join(ratios, " "))
	}
	_ = tw.Flush()
}

func sum(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s
}

func fmtNum(x float64) string {
	if math.IsNaN(x) {
		return "—"
	}
	return fmt.Sprintf("%.2f", x)
}

func fmtRatio(x float64) string {
	if math.IsNaN(x) {
		return "—"
	}
	return fmt.Sprintf("%.3f", x)
}

func fmtSpread(lo, hi float64) string {
	if math.IsNaN(lo) {
		return "—"
	}
	return fmt.Sprintf("%.3f–%.3f", lo, hi)
}

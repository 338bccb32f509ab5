package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// The targets of docs/benchmarks.md, section "Against the targets". The quick
// scenario runs smaller loads than the targets name (2,000 idle sockets,
// 20 changes/s, a 2,000-client storm): a quick run that misses one is a
// regression worth a full run.
const (
	targetIdleKiBPerConn = 12.0
	// targetNonOwnerKiBPerExten is the settled RSS one extension may cost
	// a node that does not own its PBX.
	targetNonOwnerKiBPerExten = 4.0
	targetFanoutP99Ms         = 30.0
	targetCPUUsPerMsg         = 7.0
	targetLoginStormSec       = 10.0
	targetFailoverSec         = 3.0
)

// The targets of issue 16: real PBX traffic (two frames per change), 3
// nodes + Redis (docs/benchmarks.md, section "Real traffic"); the idle
// memory is issue 28's (9 KiB before).
const (
	targetTrafficIdleKiBPerConn = 5.0
	// targetTrafficCPUUsPerFrame applies from trafficCPUClients sockets.
	targetTrafficCPUUsPerFrame = 5.0
	trafficCPUClients          = 5000
)

// trafficSteps are the loads of -scenario traffic.
var trafficSteps = []struct {
	clients int
	rate    float64
}{{1000, 100}, {5000, 20}, {10000, 10}}

// trafficP99Ms is the p99 target of a real-traffic run: 50 ms at 1,000
// clients (× 100/s), 150 ms beyond (5,000 × 20/s, 10,000 × 10/s).
func trafficP99Ms(clients int) float64 {
	if clients <= 1000 {
		return 50
	}
	return 150
}

// Verdict is one measured value against its target.
type Verdict struct {
	Step, Target, Measured string
	// Met is false when the target was missed or not measured.
	Met bool
}

// Verdicts compares every result of r with the targets that apply to it.
// A step that failed or was skipped is a missed verdict for its kind.
func (r *Report) Verdicts() []Verdict {
	var out []Verdict
	add := func(step, target string, met bool, format string, a ...any) {
		out = append(out, Verdict{Step: step, Target: target, Measured: fmt.Sprintf(format, a...), Met: met})
	}
	for _, res := range r.Results {
		if res.Error != "" || res.Skipped != "" {
			why := res.Error
			if why == "" {
				why = "skipped: " + res.Skipped
			}
			add(res.Name, "step completes", false, "%s", why)
			continue
		}
		if i := res.Idle; i != nil {
			limit := targetIdleKiBPerConn
			if r.Scenario == ScenarioTraffic {
				limit = targetTrafficIdleKiBPerConn
			}
			add(res.Name, fmt.Sprintf("idle RSS ≤ %g KiB per logged-in connection", limit),
				i.RSSPerConnKiB <= limit && i.Failed == 0, "%.2f KiB, %d failed", i.RSSPerConnKiB, i.Failed)
		}
		if m := res.Memory; m != nil {
			add(res.Name, fmt.Sprintf("non-owner settled RSS ≤ %g KiB per extension", targetNonOwnerKiBPerExten),
				m.NonOwnerKiBPerExten <= targetNonOwnerKiBPerExten, "%.2f KiB (owner %.2f KiB)", m.NonOwnerKiBPerExten, m.OwnerKiBPerExten)
		}
		for _, f := range res.Fanout {
			step := fmt.Sprintf("%s (%g/s)", res.Name, f.Rate)
			if f.Presence {
				out = append(out, trafficVerdicts(step, f)...)
				continue
			}
			add(step, fmt.Sprintf("p99 ≤ %g ms", targetFanoutP99Ms), f.P99Ms <= targetFanoutP99Ms, "%.1f ms", f.P99Ms)
			add(step, "zero missing", f.Missing == 0, "%d missing", f.Missing)
			add(step, fmt.Sprintf("server CPU ≤ %g µs per delivery", targetCPUUsPerMsg), f.CPUUsPerMsg <= targetCPUUsPerMsg, "%.2f µs", f.CPUUsPerMsg)
		}
		if l := res.LoginStorm; l != nil {
			add(res.Name, fmt.Sprintf("every client logged in within %g s", targetLoginStormSec),
				l.Failed == 0 && l.AllSec <= targetLoginStormSec, "%.2f s, %d failed", l.AllSec, l.Failed)
		}
		if f := res.Failover; f != nil {
			add(res.Name, fmt.Sprintf("events flow again within %g s, 0 lost versions", targetFailoverSec),
				f.FlowAgainSec <= targetFailoverSec && f.MissingVersions == 0, "%.2f s, %d lost", f.FlowAgainSec, f.MissingVersions)
		}
	}
	return out
}

// trafficVerdicts compares a real-traffic fan-out (medians over its runs;
// missing and slow consumers summed) with issue 16's targets.
func trafficVerdicts(step string, f FanoutResult) []Verdict {
	var slow float64
	for _, r := range f.Runs {
		slow += r.SlowConsumers
	}
	p99 := trafficP99Ms(f.Clients)
	out := []Verdict{
		{step, fmt.Sprintf("p99 ≤ %g ms", p99), fmt.Sprintf("%.1f ms", f.P99Ms), f.P99Ms <= p99},
		{step, "every client ends with every final state, no slow-consumer disconnects",
			fmt.Sprintf("%d missing, %.0f disconnects", f.Missing, slow), f.Missing == 0 && slow == 0},
	}
	if f.Clients >= trafficCPUClients {
		out = append(out, Verdict{step, fmt.Sprintf("server CPU ≤ %g µs per frame", targetTrafficCPUUsPerFrame),
			fmt.Sprintf("%.2f µs (%.2f frames/write)", f.CPUUsPerFrame, f.FramesPerWrite), f.CPUUsPerFrame <= targetTrafficCPUUsPerFrame})
	}
	return out
}

// writeVerdicts prints the verdict table and a one-line summary.
func (r *Report) writeVerdicts(w io.Writer) {
	vs := r.Verdicts()
	if len(vs) == 0 {
		return
	}
	fmt.Fprintf(w, "\n== against the targets (docs/benchmarks.md)\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "step\ttarget\tmeasured\tverdict")
	met := 0
	for _, v := range vs {
		verdict := "MISSED"
		if v.Met {
			verdict, met = "met", met+1
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Step, v.Target, v.Measured, verdict)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "verdict: %d of %d targets met\n", met, len(vs))
}

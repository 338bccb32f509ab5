package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText writes the soak result: totals, the worst recovery of each
// fault, RSS and goroutines over time, the verdict.
func (r *SoakResult) WriteText(w io.Writer) {
	fmt.Fprintf(w, "  ran %.0f s, %.2f cycles of the schedule (%d faults)\n", r.Seconds, r.Cycles, len(r.Faults))
	fmt.Fprintf(w, "  deliveries %d, logins %d, wrong final states %d, stale node snapshots %d, mask errors %d, double-owner samples %d/%d, double AMI session samples %d\n",
		r.Deliveries, r.Logins, r.WrongFinal, r.StaleNodes, r.MaskErrors, r.DoubleOwner, r.OwnerSamples, r.DoubleAMI)
	fmt.Fprintf(w, "  privacy check: %d numbers and names seen by privacy users (events and REST), %d clear\n", r.MaskChecked, r.MaskErrors)
	fmt.Fprintf(w, "  delivery latency of presence changes, quiet windows: p50 %.1f ms, p99 %.1f ms, max %.0f ms; fault windows: p50 %.1f ms, p99 %.1f ms, max %.0f ms\n",
		r.P50Ms, r.P99Ms, r.MaxMs, r.FaultP50Ms, r.FaultP99Ms, r.FaultMaxMs)
	counts := r.countByFault()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  fault\truns\tmax recovery s\twrong final\tstale nodes\tsample")
	for _, f := range r.maxRecovery() {
		rec := fmt.Sprintf("%.1f", f.RecoverySec)
		if f.RecoverySec < 0 {
			rec = "never"
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%d\t%d\t%s\n", f.Fault, counts[f.Fault], rec, f.WrongFinal, f.StaleNodes, clip(f.Sample+f.Error, 160))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "  RSS MiB and goroutines per node after a recovery (node 3 is never restarted; %d samples, at most %d shown, all in -json):\n",
		len(r.Samples), soakRowsShown)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  at s\tRSS 1\tRSS 2\tRSS 3\tgoroutines 1\tgoroutines 2\tgoroutines 3\t")
	for _, s := range spread(r.Samples, soakRowsShown) {
		fmt.Fprintf(tw, "  %.0f\t%.1f\t%.1f\t%.1f\t%.0f\t%.0f\t%.0f\t\n", s.At, s.RSSMiB[0], s.RSSMiB[1], s.RSSMiB[2], s.Goroutines[0], s.Goroutines[1], s.Goroutines[2])
	}
	_ = tw.Flush()
	if r.FlatJudged {
		fmt.Fprintf(w, "  witness node after warm-up: RSS %+.1f %% (limit %g %%), goroutines %+.0f (limit %g)\n", r.WitnessRSSPct, soakRSSGrowthPct, r.WitnessGorDiff, soakGoroutineGrowth)
	} else {
		fmt.Fprintf(w, "  flatness not judged: fewer than two cycles\n")
	}
	verdict := "PASS"
	if !r.Pass {
		verdict = "FAIL: " + strings.Join(r.Reasons, "; ")
	}
	fmt.Fprintf(w, "  soak verdict: %s\n", verdict)
}

// soakRowsShown bounds the RSS and goroutine rows of the text report.
const soakRowsShown = 16

// spread returns at most n of xs, evenly spaced, the first and the last
// included.
func spread[T any](xs []T, n int) []T {
	if len(xs) <= n || n < 2 {
		return xs
	}
	out := make([]T, 0, n)
	for i := range n {
		out = append(out, xs[i*(len(xs)-1)/(n-1)])
	}
	return out
}

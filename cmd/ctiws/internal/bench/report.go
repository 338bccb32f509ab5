package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of one `ctiws bench` invocation.
type Report struct {
	Scenario string    `json:"scenario"`
	Started  time.Time `json:"started"`
	// LoadClient is how the bench read its sockets (LoadEpoll or
	// LoadGoroutines).
	LoadClient string   `json:"load_client"`
	Machine    Machine  `json:"machine"`
	Results    []Result `json:"results"`
	// AB is the comparison of an A/B run (-ab); Results then hold every
	// window, named A1, B1, A2, … .
	AB *ABResult `json:"ab,omitempty"`
}

// Machine describes where the bench ran.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	MemoryKiB int64  `json:"memory_kib"`
	GoVersion string `json:"go_version"`
	Load1     string `json:"load1_at_start"`
}

// Result is one scenario step; exactly one of the pointers is set, or
// Skipped says why the step did not run.
type Result struct {
	Name       string          `json:"name"`
	Skipped    string          `json:"skipped,omitempty"`
	Error      string          `json:"error,omitempty"`
	Idle       *IdleResult     `json:"idle,omitempty"`
	Fanout     []FanoutResult  `json:"fanout,omitempty"`
	LoginStorm *LoginResult    `json:"login_storm,omitempty"`
	Failover   *FailoverResult `json:"failover,omitempty"`
	Floor      *FloorResult    `json:"floor,omitempty"`
	Farm       *FarmResult     `json:"farm,omitempty"`
	Memory     *MemoryResult   `json:"memory,omitempty"`
	Soak       *SoakResult     `json:"soak,omitempty"`
	Profiles   []string        `json:"profiles,omitempty"`
}

// IdleResult is the memory and CPU cost of logged-in idle sockets.
type IdleResult struct {
	Nodes        int   `json:"nodes"`
	Sockets      int   `json:"sockets"`
	Failed       int   `json:"failed"`
	RSSBeforeKiB int64 `json:"rss_before_kib"`
	RSSAfterKiB  int64 `json:"rss_after_kib"`
	// RSSIdleKiB is the RSS at the end of the idle wait, before the
	// garbage collection that precedes RSSAfterKiB.
	RSSIdleKiB    int64   `json:"rss_idle_kib"`
	RSSPerConnKiB float64 `json:"rss_per_conn_kib"`
	// RunsKiB is RSSPerConnKiB of every run when the step was measured more
	// than once; the result is then the run with the median value.
	RunsKiB []float64 `json:"rss_per_conn_kib_runs,omitempty"`
	// HeapPerConnKiB and StackPerConnKiB split the cost per connection as
	// the Go runtime sees it (heap spans and goroutine stacks in use).
	HeapPerConnKiB  float64 `json:"heap_per_conn_kib"`
	StackPerConnKiB float64 `json:"stack_per_conn_kib"`
	IdleSeconds     float64 `json:"idle_seconds"`
	CPUPerConnUsPS  float64 `json:"cpu_per_conn_us_per_s"`
	Threads         int     `json:"threads"`
	Goroutines      float64 `json:"goroutines"`
}

// FanoutResult is one rate step of a fan-out scenario (medians over runs).
type FanoutResult struct {
	Nodes   int      `json:"nodes"`
	Clients int      `json:"clients"`
	Rate    float64  `json:"changes_per_second"`
	Runs    []Window `json:"runs"`
	// Median of the runs' values.
	P50Ms          float64 `json:"p50_ms"`
	P90Ms          float64 `json:"p90_ms"`
	P99Ms          float64 `json:"p99_ms"`
	MaxMs          float64 `json:"max_ms"`
	DeliveredPerS  float64 `json:"delivered_per_s"`
	Missing        uint64  `json:"missing"`
	CPUUsPerMsg    float64 `json:"cpu_us_per_delivery"`
	CPUUsPerFrame  float64 `json:"cpu_us_per_frame"`
	FramesPerS     float64 `json:"frames_per_s"`
	CPUUsPerChange float64 `json:"cpu_us_per_change"`
	FramesPerWrite float64 `json:"frames_per_write"`
	Presence       bool    `json:"presence,omitempty"`
	ServerCPUCores float64 `json:"server_cpu_cores"`
	LoadCores      float64 `json:"load_client_cores"`
	MachineBusyPct float64 `json:"machine_busy_pct"`
	RSSKiB         int64   `json:"rss_kib"`
}

// Window is one measurement window.
type Window struct {
	Seconds       float64 `json:"seconds"`
	Written       uint64  `json:"written"`
	Expected      uint64  `json:"expected"`
	Delivered     uint64  `json:"delivered"`
	Missing       uint64  `json:"missing"`
	Duplicates    uint64  `json:"duplicates"`
	ShortClients  int     `json:"short_clients"`
	Frames        uint64  `json:"frames"`
	P50Ms         float64 `json:"p50_ms"`
	P90Ms         float64 `json:"p90_ms"`
	P99Ms         float64 `json:"p99_ms"`
	MaxMs         float64 `json:"max_ms"`
	DeliveredPerS float64 `json:"delivered_per_s"`
	FramesPerS    float64 `json:"frames_per_s"`
	ChangesPerS   float64 `json:"changes_per_s"`
	ServerCPUSec  float64 `json:"server_cpu_seconds"`
	// CPUUsPerChange is the nodes' CPU per PBX change (all its frames).
	CPUUsPerChange float64 `json:"cpu_us_per_change"`
	CPUUsPerMsg    float64 `json:"cpu_us_per_delivery"`
	CPUUsPerFrame  float64 `json:"cpu_us_per_frame"`
	// FramesPerWrite is the nodes' frames per output buffer written
	// (ctiws_socket_frames_written_total / ctiws_socket_writes_total).
	FramesPerWrite float64 `json:"frames_per_write"`
	RSSKiB         int64   `json:"rss_kib"`
	// LoadCores is the CPU of the bench process (the load client), and
	// MachineBusyPct how busy all CPUs were, over the window and drain.
	LoadCores      float64 `json:"load_client_cores"`
	MachineBusyPct float64 `json:"machine_busy_pct"`
	DrainMs        float64 `json:"drain_ms"`
	SlowConsumers  float64 `json:"slow_consumer_disconnects"`
	Resyncs        float64 `json:"resyncs"`
	Connected      int     `json:"clients_connected"`
	MissedPings    int64   `json:"missed_app_pings"`
}

// LoginResult is a login storm.
type LoginResult struct {
	Nodes     int      `json:"nodes"`
	Clients   int      `json:"clients"`
	OK        int      `json:"ok"`
	Failed    int      `json:"failed"`
	Errors    []string `json:"errors,omitempty"`
	AllSec    float64  `json:"seconds_until_all"`
	P50Ms     float64  `json:"p50_ms"`
	P99Ms     float64  `json:"p99_ms"`
	MaxMs     float64  `json:"max_ms"`
	ServerCPU float64  `json:"server_cpu_seconds"`
}

// FailoverResult is the owner kill during fan-out.
type FailoverResult struct {
	Nodes            int      `json:"nodes"`
	Clients          int      `json:"clients"`
	Rate             float64  `json:"changes_per_second"`
	KilledNode       string   `json:"killed_node"`
	FlowAgainSec     float64  `json:"seconds_until_events_flow"`
	NewOwner         string   `json:"new_owner"`
	Survivors        int      `json:"surviving_clients"`
	Reconnected      int      `json:"reconnected_clients"`
	ReconnectFailed  int      `json:"reconnect_failed"`
	Written          uint64   `json:"written"`
	MissingVersions  int      `json:"missing_final_versions"`
	ClientsWithGaps  int      `json:"clients_missing_final_versions"`
	MissingSample    []string `json:"missing_sample,omitempty"`
	P99Ms            float64  `json:"p99_ms"`
	MaxMs            float64  `json:"max_ms"`
	ReconnectSeconds float64  `json:"reconnect_seconds"`
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// WriteJSON writes the report to path.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteText writes the human tables and the verdict against the targets.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "ctiws bench -scenario %s — %s — %d CPUs (%s), %d MiB, load %s — %s load client\n",
		r.Scenario, r.Started.UTC().Format(time.RFC3339), r.Machine.CPUs, r.Machine.CPUModel, r.Machine.MemoryKiB/1024, r.Machine.Load1, r.LoadClient)
	for _, res := range r.Results {
		fmt.Fprintf(w, "\n== %s\n", res.Name)
		switch {
		case res.Skipped != "":
			fmt.Fprintf(w, "SKIPPED: %s\n", res.Skipped)
		case res.Error != "":
			fmt.Fprintf(w, "ERROR: %s\n", res.Error)
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		if i := res.Idle; i != nil {
			fmt.Fprintln(tw, "nodes\tsockets\tfailed\tRSS before MiB\tRSS idle MiB\tRSS after MiB\tRSS/conn KiB\theap/conn KiB\tstack/conn KiB\tCPU/conn µs/s\tthreads\tgoroutines\t")
			fmt.Fprintf(tw, "%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%.0f\t\n", i.Nodes, i.Sockets, i.Failed,
				float64(i.RSSBeforeKiB)/1024, float64(i.RSSIdleKiB)/1024, float64(i.RSSAfterKiB)/1024, i.RSSPerConnKiB, i.HeapPerConnKiB, i.StackPerConnKiB,
				i.CPUPerConnUsPS, i.Threads, i.Goroutines)
		}
		if m := res.Memory; m != nil {
			fmt.Fprintln(tw, "node\textensions\tRSS base MiB\tRSS MiB\tRSS/extension KiB\theap base MiB\theap MiB\theap/extension KiB\t")
			for _, row := range []struct {
				name      string
				s         MemorySample
				rss, heap float64
			}{{"owner", m.Owner, m.OwnerKiBPerExten, m.OwnerHeapKiBPerExten}, {"non-owner", m.NonOwner, m.NonOwnerKiBPerExten, m.NonOwnerHeapKiBPerExten}} {
				fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.2f\t%.1f\t%.1f\t%.2f\t\n", row.name, m.Extensions, float64(row.s.RSSBaseKiB)/1024, float64(row.s.RSSKiB)/1024,
					row.rss, row.s.HeapBaseKiB/1024, row.s.HeapKiB/1024, row.heap)
			}
		}
		if f := res.Floor; f != nil {
			fmt.Fprintln(tw, "sockets\trounds/s\tframe B\tdelivered/s\twriter CPU µs/write\twriter cores\tload cores\tbusy %\tp50 ms\tp99 ms\tmax ms\t")
			fmt.Fprintf(tw, "%d\t%g\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.0f\t%.2f\t%.2f\t%.2f\t\n", f.Clients, f.Rate, f.FrameBytes,
				float64(f.Delivered)/f.Seconds, f.CPUUsPerWrite, f.WriterCores, f.LoadCores, f.MachineBusyPct, f.P50Ms, f.P99Ms, f.MaxMs)
		}
		if len(res.Fanout) > 0 {
			fmt.Fprintln(tw, "traffic\tnodes\tclients\tchanges/s\truns\tp50 ms\tp90 ms\tp99 ms\tmax ms\tframes/s\tmissing final\tCPU µs/frame\tframes/write\tCPU µs/change\tserver cores\tload cores\tbusy %\tRSS MiB\t")
			for _, f := range res.Fanout {
				traffic := "user agent (1 frame)"
				if f.Presence {
					traffic = "presence (2 frames)"
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%g\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\t%d\t%.2f\t%.2f\t%.1f\t%.2f\t%.2f\t%.0f\t%.1f\t\n", traffic, f.Nodes, f.Clients, f.Rate, len(f.Runs),
					f.P50Ms, f.P90Ms, f.P99Ms, f.MaxMs, f.FramesPerS, f.Missing, f.CPUUsPerFrame, f.FramesPerWrite, f.CPUUsPerChange, f.ServerCPUCores,
					f.LoadCores, f.MachineBusyPct, float64(f.RSSKiB)/1024)
			}
		}
		if l := res.LoginStorm; l != nil {
			fmt.Fprintln(tw, "nodes\tclients\tok\tfailed\tall logged in s\tp50 ms\tp99 ms\tmax ms\tserver CPU s\t")
			fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%.2f\t%.0f\t%.0f\t%.0f\t%.2f\t\n", l.Nodes, l.Clients, l.OK, l.Failed, l.AllSec, l.P50Ms, l.P99Ms, l.MaxMs, l.ServerCPU)
		}
		if f := res.Failover; f != nil {
			fmt.Fprintln(tw, "nodes\tclients\tchanges/s\tkilled\tnew owner\tflow again s\tsurvivors\treconnected\tmissing final versions\tp99 ms\tmax ms\t")
			fmt.Fprintf(tw, "%d\t%d\t%g\t%s\t%s\t%.2f\t%d\t%d\t%d\t%.1f\t%.1f\t\n", f.Nodes, f.Clients, f.Rate, f.KilledNode, f.NewOwner,
				f.FlowAgainSec, f.Survivors, f.Reconnected, f.MissingVersions, f.P99Ms, f.MaxMs)
		}
		_ = tw.Flush()
		if i := res.Idle; i != nil && len(i.RunsKiB) > 1 {
			fmt.Fprintf(w, "  RSS/conn KiB of the %d runs: %s (the median run is shown)\n", len(i.RunsKiB), joinFloats(i.RunsKiB, "%.2f"))
		}
		if f := res.Farm; f != nil {
			f.WriteText(w)
		}
		if s := res.Soak; s != nil {
			s.WriteText(w)
		}
		for _, f := range res.Fanout {
			if len(f.Runs) > 1 || (len(f.Runs) == 1 && (f.Runs[0].Missing > 0 || f.Runs[0].SlowConsumers > 0)) {
				for k, run := range f.Runs {
					fmt.Fprintf(w, "  %g/s run %d: p99 %.1f ms, delivered %d/%d (missing %d, dupes %d, short clients %d), drain %.0f ms, slow-consumer drops %.0f, resyncs %.0f\n",
						f.Rate, k+1, run.P99Ms, run.Delivered, run.Expected, run.Missing, run.Duplicates, run.ShortClients, run.DrainMs, run.SlowConsumers, run.Resyncs)
				}
			}
		}
		if f := res.Failover; f != nil && len(f.MissingSample) > 0 {
			fmt.Fprintf(w, "  missing final versions, e.g.: %s\n", strings.Join(f.MissingSample, "; "))
		}
		if l := res.LoginStorm; l != nil && len(l.Errors) > 0 {
			fmt.Fprintf(w, "  errors: %s\n", strings.Join(l.Errors, "; "))
		}
		for _, p := range res.Profiles {
			fmt.Fprintf(w, "  profile: %s\n", p)
		}
	}
	if r.AB != nil {
		// The windows are judged against each other, not the targets.
		r.AB.WriteText(w)
		return
	}
	r.writeVerdicts(w)
}

// joinFloats formats xs with format, separated by " / ".
func joinFloats(xs []float64, format string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(parts, " / ")
}

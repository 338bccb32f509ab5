package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"time"
)

func (b *runner) spec(nodes, users int, rate float64) ClusterSpec {
	return ClusterSpec{
		Binary: b.o.Binary, Users: users, Nodes: nodes, RedisServer: b.o.RedisServer,
		ChangesPerSecond: rate, Presence: b.o.Presence, LeaseTTL: b.o.LeaseTTL, Pprof: b.o.ProfileDir != "", Keep: b.o.Keep,
		LogDir: b.o.LogDir,
	}
}

func (b *runner) dialTimeout() time.Duration { return defD(b.o.DialTimeout, 30*time.Second) }
func (b *runner) dialConcurrency() int       { return def(b.o.DialConcurrency, 256) }
func (b *runner) drain() time.Duration       { return defD(b.o.Drain, 5*time.Second) }

// URLs returns the base URLs of the live nodes.
func (c *Cluster) URLs() []string {
	var out []string
	for _, n := range c.Nodes {
		if n.Alive() {
			out = append(out, n.URL)
		}
	}
	return out
}

// setup starts a cluster and logs every client in.
func (b *runner) setup(ctx context.Context, spec ClusterSpec) (*Cluster, *Fleet, error) {
	b.log.Info("starting servers", "nodes", spec.Nodes, "users", spec.Users, "changes_per_second", spec.ChangesPerSecond)
	c, err := StartCluster(ctx, spec, b.log)
	if err != nil {
		return nil, nil, err
	}
	fl, err := NewFleet(spec.Users, c.JWTSecret(), b.o.LoadClient, b.log)
	if err != nil {
		c.Stop()
		return nil, nil, err
	}
	b.log.Info("connecting clients", "clients", spec.Users)
	dr := fl.Connect(ctx, c.URLs(), nil, b.dialConcurrency(), b.dialTimeout())
	if dr.Failed > 0 {
		fl.Close()
		c.Stop()
		return nil, nil, fmt.Errorf("%d of %d clients failed to log in: %s", dr.Failed, spec.Users, strings.Join(dr.Errors, "; "))
	}
	b.log.Info("clients logged in", "clients", dr.OK, "seconds", dr.Elapsed.Seconds())
	return c, fl, nil
}

// idle measures RSS and CPU per logged-in idle socket on one node.
func (b *runner) idle(ctx context.Context, name string, n int) Result {
	res := Result{Name: name}
	spec := b.spec(1, n, 0)
	spec.Pprof = true // for the garbage collections before the samples
	c, err := StartCluster(ctx, spec, b.log)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer c.Stop()
	before := b.settledSample(ctx, c)
	fl, err := NewFleet(n, c.JWTSecret(), b.o.LoadClient, b.log)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer fl.Close()
	b.log.Info("connecting idle clients", "clients", n)
	dr := fl.Connect(ctx, c.URLs(), nil, b.dialConcurrency(), b.dialTimeout())
	wait := defD(b.o.IdleWait, 30*time.Second)
	if b.o.IdleWait == 0 && b.o.Scenario == ScenarioQuick {
		wait = 15 * time.Second
	}
	b.log.Info("sockets idle", "ok", dr.OK, "failed", dr.Failed, "wait", wait)
	mid := c.Sample()[0]
	t0 := time.Now()
	_ = sleepCtx(ctx, wait)
	unsettled := c.Sample()[0]
	idleFor := time.Since(t0)
	after := b.settledSample(ctx, c)
	ir := &IdleResult{Nodes: 1, Sockets: dr.OK, Failed: dr.Failed, RSSBeforeKiB: before.proc.RSS / 1024, RSSAfterKiB: after.proc.RSS / 1024,
		RSSIdleKiB: unsettled.RSS / 1024, IdleSeconds: idleFor.Seconds(), Threads: after.proc.Threads, Goroutines: c.Metric(ctx, "go_goroutines")}
	if dr.OK > 0 {
		per := func(a, b float64) float64 { return (a - b) / 1024 / float64(dr.OK) }
		ir.RSSPerConnKiB = per(float64(after.proc.RSS), float64(before.proc.RSS))
		ir.HeapPerConnKiB = per(after.heap, before.heap)
		ir.StackPerConnKiB = per(after.stack, before.stack)
		ir.CPUPerConnUsPS = float64(unsettled.CPU-mid.CPU) / 1e3 / idleFor.Seconds() / float64(dr.OK)
	}
	res.Idle = ir
	if dr.Failed > 0 {
		res.Error = fmt.Sprintf("%d clients failed: %s", dr.Failed, strings.Join(dr.Errors, "; "))
	}
	if b.o.ProfileDir != "" {
		f := filepath.Join(b.o.ProfileDir, fmt.Sprintf("idle-%d-heap.pprof", n))
		if err := c.HeapProfile(ctx, 0, f); err != nil {
			b.log.Warn("heap profile failed", "err", err)
		} else {
			res.Profiles = append(res.Profiles, f)
		}
	}
	return res
}

// idleMedian measures idle memory runs times, each on a fresh node, and
// returns the run with the median RSS per connection (with every run's
// value in RunsKiB): one run varies by about ±4 % with how the logins'
// allocations happened to fall into spans.
func (b *runner) idleMedian(ctx context.Context, name string, n, runs int) Result {
	var all []Result
	for range max(runs, 1) {
		res := b.idle(ctx, name, n)
		if res.Idle == nil || res.Error != "" || res.Skipped != "" {
			return res
		}
		all = append(all, res)
	}
	return medianIdle(all)
}

// medianIdle returns the idle result with the median RSS per connection,
// with every run's value in RunsKiB when there is more than one.
func medianIdle(all []Result) Result {
	kib := make([]float64, len(all))
	for i, r := range all {
		kib[i] = r.Idle.RSSPerConnKiB
	}
	mid := Median(kib)
	best := all[0]
	for _, r := range all {
		if math.Abs(r.Idle.RSSPerConnKiB-mid) < math.Abs(best.Idle.RSSPerConnKiB-mid) {
			best = r
		}
	}
	if len(all) > 1 {
		idle := *best.Idle
		idle.RunsKiB = kib
		best.Idle = &idle
	}
	return best
}

// memSample is a node's RSS and the Go runtime's view of its memory.
type memSample struct {
	proc        ProcSample
	heap, stack float64 // bytes in use: heap spans, goroutine stacks
}

// settledSample collects garbage in node 0 and has it return freed pages
// to the OS, then samples. Both ends of
// the idle measurement are taken this way, so start-up garbage (the AMI
// snapshot, the user directory) does not count against the sockets, and
// neither does garbage that happens to be uncollected at the moment of a
// sample.
func (b *runner) settledSample(ctx context.Context, c *Cluster) memSample {
	if err := c.CollectGarbage(ctx, 0); err != nil {
		b.log.Warn("garbage collection before sampling failed", "err", err)
	}
	_ = sleepCtx(ctx, time.Second)
	return memSample{proc: c.Sample()[0], heap: c.Metric(ctx, "go_memstats_heap_inuse_bytes"), stack: c.Metric(ctx, "go_memstats_stack_inuse_bytes")}
}

// fanout measures delivery of bench changes to every client, per rate.
func (b *runner) fanout(ctx context.Context, name string, nodes, clients int, rates []float64, dur time.Duration, runs int) Result {
	res := Result{Name: name}
	c, fl, err := b.setup(ctx, b.spec(nodes, clients, rates[0]))
	if err != nil {
		if nodes > 1 && b.o.Scenario == ScenarioQuick {
			res.Skipped = "needs redis-server and the Redis backend wired into `ctiws serve`: " + err.Error()
		} else {
			res.Error = err.Error()
		}
		return res
	}
	defer c.Stop()
	defer fl.Close()
	for ri, rate := range rates {
		if ri > 0 {
			if err := c.RestartSim(ctx, rate); err != nil {
				res.Error = err.Error()
				return res
			}
		}
		if err := b.warmUp(ctx, c, fl); err != nil {
			res.Error = err.Error()
			return res
		}
		fr := FanoutResult{Nodes: nodes, Clients: clients, Rate: rate, Presence: b.o.Presence}
		for k := range runs {
			prof := ""
			if b.o.ProfileDir != "" && k == 0 {
				prof = filepath.Join(b.o.ProfileDir, fmt.Sprintf("fanout-%dn-%dc-%gps-cpu.pprof", nodes, clients, rate))
			}
			run, err := b.window(ctx, c, fl, dur, prof)
			if err != nil {
				res.Error = err.Error()
				res.Fanout = append(res.Fanout, fr)
				return res
			}
			if prof != "" {
				res.Profiles = append(res.Profiles, prof)
			}
			b.log.Info("window done", "rate", rate, "run", k+1, "p99_ms", run.P99Ms, "delivered_per_s", run.DeliveredPerS,
				"missing", run.Missing, "cpu_us_per_delivery", run.CPUUsPerMsg)
			fr.Runs = append(fr.Runs, run)
		}
		fr.summarise()
		res.Fanout = append(res.Fanout, fr)
		if b.o.P99Limit > 0 && fr.P99Ms > ms(b.o.P99Limit) {
			b.log.Info("p99 above the limit: ramp stops", "rate", rate, "p99_ms", fr.P99Ms, "limit_ms", ms(b.o.P99Limit))
			break
		}
	}
	return res
}

// warmUp runs the simulator until every connected client has received a
// bench change, so a window never measures a path still starting up.
func (b *runner) warmUp(ctx context.Context, c *Cluster, fl *Fleet) error {
	idx := fl.Connected()
	fl.Reset(c.Sim().Stats().BenchChanges)
	c.Sim().SetPaused(false)
	defer c.Sim().SetPaused(true)
	deadline := time.Now().Add(60 * time.Second)
	for fl.Totals(idx, 1).Short > 0 {
		if time.Now().After(deadline) {
			t := fl.Totals(idx, 1)
			return fmt.Errorf("warm-up: %d of %d clients got no bench change within 60 s", t.Short, len(idx))
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// summarise sets the medians over the runs.
func (f *FanoutResult) summarise() {
	pick := func(get func(Window) float64) float64 {
		xs := make([]float64, len(f.Runs))
		for i, r := range f.Runs {
			xs[i] = get(r)
		}
		return Median(xs)
	}
	f.P50Ms = pick(func(r Window) float64 { return r.P50Ms })
	f.P90Ms = pick(func(r Window) float64 { return r.P90Ms })
	f.P99Ms = pick(func(r Window) float64 { return r.P99Ms })
	f.MaxMs = pick(func(r Window) float64 { return r.MaxMs })
	f.DeliveredPerS = pick(func(r Window) float64 { return r.DeliveredPerS })
	f.CPUUsPerMsg = pick(func(r Window) float64 { return r.CPUUsPerMsg })
	f.CPUUsPerFrame = pick(func(r Window) float64 { return r.CPUUsPerFrame })
	f.FramesPerS = pick(func(r Window) float64 { return r.FramesPerS })
	f.CPUUsPerChange = pick(func(r Window) float64 { return r.CPUUsPerChange })
	f.FramesPerWrite = pick(func(r Window) float64 { return r.FramesPerWrite })
	f.LoadCores = pick(func(r Window) float64 { return r.LoadCores })
	f.MachineBusyPct = pick(func(r Window) float64 { return r.MachineBusyPct })
	f.ServerCPUCores = pick(func(r Window) float64 { return r.ServerCPUSec / (r.Seconds + r.DrainMs/1000) })
	f.RSSKiB = int64(pick(func(r Window) float64 { return float64(r.RSSKiB) }))
	for _, r := range f.Runs {
		f.Missing += r.Missing // missing is never averaged away
	}
}

// window runs the simulator for dur and measures what the clients got.
func (b *runner) window(ctx context.Context, c *Cluster, fl *Fleet, dur time.Duration, profile string) (Window, error) {
	idx := fl.Connected()
	if len(idx) == 0 {
		return Window{}, fmt.Errorf("no client connected")
	}
	base := c.Sim().Stats().BenchChanges
	h := fl.Reset(base)
	slow0 := c.Metric(ctx, "ctiws_slow_consumer_disconnects_total")
	resync0 := c.Metric(ctx, "ctiws_resyncs_total")
	writes0, written0 := c.Metric(ctx, "ctiws_socket_writes_total"), c.Metric(ctx, "ctiws_socket_frames_written_total")
	p0 := c.Sample()
	load0 := sampleLoad()
	profDone := make(chan error, 1)
	if profile != "" {
		owner := max(c.Owner(ctx), 0)
		go func() { profDone <- c.Profile(ctx, owner, dur, profile) }()
		stop, err := profileSelf(loadProfilePath(profile))
		if err != nil {
			b.log.Warn("load client CPU profile failed", "err", err)
		} else {
			defer stop()
		}
	} else {
		profDone <- nil
	}
	t0 := time.Now()
	c.Sim().SetPaused(false)
	err := sleepCtx(ctx, dur)
	c.Sim().SetPaused(true)
	elapsed := time.Since(t0)
	if err != nil {
		return Window{}, err
	}
	written := c.Sim().Stats().BenchChanges - base
	// Delivered means: every client holds every extension's latest state
	// (a state replaced by a newer one in a slow socket's queue is not
	// owed; see docs/benchmarks.md).
	exts := fl.Len()
	drain := fl.WaitFinal(ctx, idx, base+written, exts, b.drain())
	p1 := c.Sample()
	load1 := sampleLoad()
	if err := <-profDone; err != nil {
		b.log.Warn("CPU profile failed", "err", err)
	}
	t := fl.Totals(idx, written)
	run := Window{
		Seconds: elapsed.Seconds(), Written: written, Expected: written * uint64(len(idx)), Delivered: t.Distinct,
		Duplicates: t.Dupes, ShortClients: t.Short, Frames: t.Frames, DrainMs: ms(drain),
		P50Ms: ms(h.Quantile(0.50)), P90Ms: ms(h.Quantile(0.90)), P99Ms: ms(h.Quantile(0.99)), MaxMs: ms(h.Max()),
		SlowConsumers: c.Metric(ctx, "ctiws_slow_consumer_disconnects_total") - slow0,
		Resyncs:       c.Metric(ctx, "ctiws_resyncs_total") - resync0,
		Connected:     len(fl.Connected()), MissedPings: fl.MissedPings(),
	}
	if writes := c.Metric(ctx, "ctiws_socket_writes_total") - writes0; writes > 0 {
		run.FramesPerWrite = (c.Metric(ctx, "ctiws_socket_frames_written_total") - written0) / writes
	}
	missing, _, _ := fl.MissingFinal(idx, base+written, exts)
	run.Missing = uint64(missing)
	run.DeliveredPerS = float64(run.Delivered) / elapsed.Seconds()
	run.FramesPerS = float64(run.Frames) / elapsed.Seconds()
	run.ChangesPerS = float64(written) / elapsed.Seconds()
	var cpu time.Duration
	var rss int64
	for i := range p1 {
		if p1[i].RSS > 0 && p0[i].RSS > 0 {
			cpu += p1[i].CPU - p0[i].CPU
			rss += p1[i].RSS
		}
	}
	run.ServerCPUSec = cpu.Seconds()
	wall := time.Duration((run.Seconds + run.DrainMs/1000) * float64(time.Second))
	run.LoadCores, run.MachineBusyPct = load1.since(load0, wall)
	run.RSSKiB = rss / 1024
	if run.Delivered > 0 {
		run.CPUUsPerMsg = float64(cpu.Microseconds()) / float64(run.Delivered)
	}
	if run.Frames > 0 {
		run.CPUUsPerFrame = float64(cpu.Microseconds()) / float64(run.Frames)
	}
	if written > 0 {
		run.CPUUsPerChange = float64(cpu.Microseconds()) / float64(written)
	}
	return run, nil
}

// loadSample is the CPU time of the bench process itself (the load
// client) and of the whole machine at one moment.
type loadSample struct {
	self               time.Duration
	busy, machineTotal time.Duration
}

func sampleLoad() loadSample {
	var l loadSample
	if p, err := ReadProc(os.Getpid()); err == nil {
		l.self = p.CPU
	}
	l.busy, l.machineTotal, _ = MachineCPU()
	return l
}

// since returns the load client's cores and the machine's busy percentage
// between two samples wall apart.
func (l loadSample) since(before loadSample, wall time.Duration) (cores, busyPct float64) {
	if wall > 0 {
		cores = (l.self - before.self).Seconds() / wall.Seconds()
	}
	if d := l.machineTotal - before.machineTotal; d > 0 {
		busyPct = 100 * float64(l.busy-before.busy) / float64(d)
	}
	return cores, busyPct
}

// loginStorm connects every client at once and times the logins.
func (b *runner) loginStorm(ctx context.Context, name string, nodes, n int) Result {
	res := Result{Name: name}
	c, err := StartCluster(ctx, b.spec(nodes, n, 0), b.log)
	if err != nil {
		if nodes > 1 && b.o.Scenario == ScenarioQuick {
			res.Skipped = err.Error()
		} else {
			res.Error = err.Error()
		}
		return res
	}
	defer c.Stop()
	fl, err := NewFleet(n, c.JWTSecret(), b.o.LoadClient, b.log)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer fl.Close()
	p0 := c.Sample()
	b.log.Info("login storm", "clients", n, "nodes", nodes)
	dr := fl.Connect(ctx, c.URLs(), nil, 0, b.dialTimeout())
	p1 := c.Sample()
	var cpu time.Duration
	for i := range p1 {
		cpu += p1[i].CPU - p0[i].CPU
	}
	res.LoginStorm = &LoginResult{
		Nodes: nodes, Clients: n, OK: dr.OK, Failed: dr.Failed, Errors: dr.Errors, AllSec: dr.Elapsed.Seconds(),
		P50Ms: ms(dr.Latency.Quantile(0.5)), P99Ms: ms(dr.Latency.Quantile(0.99)), MaxMs: ms(dr.Latency.Max()), ServerCPU: cpu.Seconds(),
	}
	return res
}

// failover kills the tenant's owner during fan-out and checks that the
// clients on the surviving nodes end with every object's final version.
func (b *runner) failover(ctx context.Context, name string, nodes, clients int, rate float64, dur time.Duration) Result {
	res := Result{Name: name}
	if nodes < 2 {
		res.Error = "failover needs at least 2 nodes"
		return res
	}
	c, fl, err := b.setup(ctx, b.spec(nodes, clients, rate))
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer c.Stop()
	defer fl.Close()
	if err := b.warmUp(ctx, c, fl); err != nil {
		res.Error = err.Error()
		return res
	}
	before := fl.Connected()
	h := fl.Reset(c.Sim().Stats().BenchChanges)
	c.Sim().SetPaused(false)
	if err := sleepCtx(ctx, dur/3); err != nil {
		res.Error = err.Error()
		return res
	}
	owner := c.Owner(ctx)
	if owner < 0 {
		res.Error = "no node reports ctiws_lease_owned{tenant=\"bench\"} 1"
		return res
	}
	fr := &FailoverResult{Nodes: nodes, Clients: clients, Rate: rate, KilledNode: c.Nodes[owner].ID}
	kill := time.Now()
	fl.flowAt.Store(0)
	fl.flowAfter.Store(kill.UnixNano())
	b.log.Info("killing the owner", "node", c.Nodes[owner].ID)
	if err := c.Kill(owner); err != nil {
		res.Error = err.Error()
		return res
	}
	// The killed node's clients see their TCP connections reset.
	_ = sleepCtx(ctx, 500*time.Millisecond)
	dropped := fl.Dropped()
	t0 := time.Now()
	dr := fl.Connect(ctx, c.URLs(), dropped, b.dialConcurrency(), b.dialTimeout())
	fr.Reconnected, fr.ReconnectFailed, fr.ReconnectSeconds = dr.OK, dr.Failed, time.Since(t0).Seconds()
	gone := map[int]bool{}
	for _, i := range dropped {
		gone[i] = true
	}
	var survivors []int
	for _, i := range before {
		if !gone[i] {
			survivors = append(survivors, i)
		}
	}
	sort.Ints(survivors)
	fr.Survivors = len(survivors)
	end := kill.Add(dur - dur/3)
	flowDeadline := kill.Add(30 * time.Second)
	for time.Now().Before(end) || (fl.flowAt.Load() == 0 && time.Now().Before(flowDeadline)) {
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			res.Error = err.Error()
			return res
		}
	}
	c.Sim().SetPaused(true)
	written := c.Sim().Stats().BenchChanges
	fr.Written = written
	deadline := time.Now().Add(b.drain())
	for {
		fr.MissingVersions, fr.ClientsWithGaps, fr.MissingSample = fl.MissingFinal(survivors, written, clients)
		if fr.MissingVersions == 0 || time.Now().After(deadline) {
			break
		}
		_ = sleepCtx(ctx, 200*time.Millisecond)
	}
	if at := fl.flowAt.Load(); at != 0 {
		fr.FlowAgainSec = time.Unix(0, at).Sub(kill).Seconds()
	} else {
		fr.FlowAgainSec = -1
		res.Error = "events did not flow again within 30 s of the kill"
	}
	if o := c.Owner(ctx); o >= 0 {
		fr.NewOwner = c.Nodes[o].ID
	}
	fr.P99Ms, fr.MaxMs = ms(h.Quantile(0.99)), ms(h.Max())
	res.Failover = fr
	return res
}

// loadProfilePath names the load client's CPU profile next to the node's.
func loadProfilePath(nodeProfile string) string {
	return strings.TrimSuffix(nodeProfile, "-cpu.pprof") + "-load-cpu.pprof"
}

// profileSelf starts a CPU profile of the bench process (the load client)
// written to path; stop ends it and closes the file.
func profileSelf(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create load client profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("start load client profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

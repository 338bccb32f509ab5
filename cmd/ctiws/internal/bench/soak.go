package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctiws/ctiws/ami/sim"
)

// soakQuiet is the quiet traffic window before each fault (no fault,
// nothing recovering); soakQuietShort that of the short schedule.
const (
	soakQuiet      = 10 * time.Second
	soakQuietShort = 4 * time.Second
)

// ErrSoakFailed is returned by Run when the soak's verdict is a failure.
var ErrSoakFailed = errors.New("soak verdict: FAIL")

// Flatness tolerance of the witness node after warm-up (the first cycle):
// RSS may grow by soakRSSGrowthPct, goroutines by soakGoroutineGrowth.
const (
	soakRSSGrowthPct    = 20.0
	soakGoroutineGrowth = 25.0
)

// SoakResult is the outcome of -scenario soak.
type SoakResult struct {
	Spec         SoakSpec     `json:"spec"`
	Seconds      float64      `json:"seconds"`
	Cycles       float64      `json:"cycles"`
	Faults       []SoakWindow `json:"faults"`
	Deliveries   uint64       `json:"deliveries"`
	Logins       uint64       `json:"logins"`
	WrongFinal   int          `json:"wrong_final_states"`
	StaleNodes   int          `json:"stale_node_snapshots"`
	MaskErrors   uint64       `json:"mask_errors"`
	MaskSample   string       `json:"mask_error_sample,omitempty"`
	DoubleOwner  int          `json:"double_owner_samples"`
	DoubleAMI    int          `json:"double_ami_session_samples"`
	OwnerSamples int          `json:"owner_samples"`
	MaskChecked  uint64       `json:"mask_checked"`
	// Delivery latency of the bench changes in the quiet traffic windows
	// (no fault, nothing recovering) and in the fault windows.
	P50Ms          float64      `json:"quiet_p50_ms"`
	P99Ms          float64      `json:"quiet_p99_ms"`
	MaxMs          float64      `json:"quiet_max_ms"`
	FaultP50Ms     float64      `json:"fault_p50_ms"`
	FaultP99Ms     float64      `json:"fault_p99_ms"`
	FaultMaxMs     float64      `json:"fault_max_ms"`
	Samples        []SoakSample `json:"samples"`
	WitnessRSSPct  float64      `json:"witness_rss_growth_pct"`
	WitnessGorDiff float64      `json:"witness_goroutine_growth"`
	FlatJudged     bool         `json:"flat_judged"`
	Pass           bool         `json:"pass"`
	Reasons        []string     `json:"fail_reasons,omitempty"`
}

// SoakWindow is one fault of the run and its recovery.
type SoakWindow struct {
	Fault  string  `json:"fault"`
	Target string  `json:"target"`
	At     float64 `json:"at_seconds"`
	// RecoverySec: from the fault's end until every client's view equals
	// its node's REST snapshot (-1: not within the recovery window).
	RecoverySec float64 `json:"recovery_seconds"`
	WrongFinal  int     `json:"wrong_final_states"`
	StaleNodes  int     `json:"stale_nodes"`
	Sample      string  `json:"sample,omitempty"`
	Error       string  `json:"error,omitempty"`
	// QuietP99Ms is the delivery p99 of the quiet window before the fault.
	QuietP99Ms float64 `json:"quiet_p99_ms"`
}

// SoakSample is every node's RSS and goroutines after one recovery.
type SoakSample struct {
	At         float64   `json:"at_seconds"`
	RSSMiB     []float64 `json:"rss_mib"`
	Goroutines []float64 `json:"goroutines"`
}

// soak runs the chaos soak.
func (b *runner) soak(ctx context.Context, spec SoakSpec) Result {
	spec.defaults()
	res := Result{Name: fmt.Sprintf("soak: %v, 3 nodes + Redis with Sentinel, %d clients (%d users, %d behind stalling proxies), %g changes/s + %g calls/s",
		spec.Duration, spec.Clients, spec.Users, spec.StallClients, spec.ChangesPerSecond, spec.CallsPerSecond)}
	sr := &SoakResult{Spec: spec}
	res.Soak = sr
	if err := b.runSoak(ctx, spec, sr); err != nil {
		res.Error = err.Error()
	}
	sr.judge()
	return res
}

func (b *runner) runSoak(ctx context.Context, spec SoakSpec, sr *SoakResult) error {
	cctx, cancelClients := context.WithCancel(ctx)
	defer cancelClients()
	l, err := b.startSoakLab(cctx, spec)
	if err != nil {
		return err
	}
	defer func() {
		cancelClients()
		l.stop()
		l.wg.Wait()
	}()
	// The monitor: owners and AMI sessions, twice a second.
	var doubleOwner, doubleAMI, samples atomic.Int64
	var firstDouble atomic.Pointer[string]
	mctx, stopMonitor := context.WithCancel(ctx)
	var mwg sync.WaitGroup
	mwg.Go(func() {
		for sleepCtx(mctx, 500*time.Millisecond) == nil {
			samples.Add(1)
			if o := l.owners(mctx); len(o) > 1 {
				doubleOwner.Add(1)
				s := fmt.Sprintf("%s: nodes %v own the tenant", time.Now().UTC().Format(time.RFC3339Nano), o)
				firstDouble.CompareAndSwap(nil, &s)
				b.log.Error("soak: two owners", "nodes", o)
			}
			if n := l.amiSessions(); n > 1 {
				doubleAMI.Add(1)
				s := fmt.Sprintf("%s: the PBX sees %d AMI sessions", time.Now().UTC().Format(time.RFC3339Nano), n)
				firstDouble.CompareAndSwap(nil, &s)
				b.log.Error("soak: the PBX sees several AMI sessions", "sessions", n)
			}
		}
	})
	defer func() { stopMonitor(); mwg.Wait() }()

	schedule := pickSchedule(spec.Duration, spec.Only)
	if len(schedule) == 0 {
		return fmt.Errorf("no fault of the schedule matches %v", spec.Only)
	}
	start := time.Now()
	end := start.Add(spec.Duration)
	b.log.Info("soak starts", "faults", len(schedule), "duration", spec.Duration)
	quiet := soakQuiet
	if spec.Duration < soakShortLimit {
		quiet = soakQuietShort
	}
	k := 0
	for ; k == 0 || (time.Now().Before(end) && ctx.Err() == nil); k++ {
		f := schedule[k%len(schedule)]
		// Quiet traffic first: the latency of a healthy cluster.
		qh := &Histogram{}
		l.hist.Store(qh)
		l.setPaused(false)
		if err := sleepCtx(ctx, quiet); err != nil {
			return err
		}
		l.hist.Store(l.faultHist)
		l.quietHist.Merge(qh)
		w := SoakWindow{Fault: f.Name, At: time.Since(start).Seconds(), QuietP99Ms: ms(qh.Quantile(0.99))}
		b.log.Info("fault", "n", k+1, "fault", f.Name)
		target, heal, err := f.inject(ctx, l)
		w.Target = target
		if err != nil {
			w.Error = err.Error()
			b.log.Error("soak: fault injection failed", "fault", f.Name, "err", err)
		} else {
			_ = sleepCtx(ctx, f.Window)
			heal()
		}
		healed := time.Now()
		l.setPaused(true)
		w.RecoverySec, w.WrongFinal, w.StaleNodes, w.Sample = l.converge(ctx, healed, spec.Recovery)
		b.log.Info("recovered", "quiet_p99_ms_before", w.QuietP99Ms, "fault", f.Name, "target", target, "seconds", w.RecoverySec, "wrong", w.WrongFinal, "stale_nodes", w.StaleNodes, "sample", w.Sample)
		sr.Faults = append(sr.Faults, w)
		sr.Samples = append(sr.Samples, l.sample(ctx, time.Since(start)))
		if k+1 == len(schedule) && spec.Duration < soakShortLimit && spec.Only == nil {
			k++
			break
		}
	}
	sr.Seconds = time.Since(start).Seconds()
	sr.Cycles = float64(k) / float64(len(schedule))
	for _, c := range l.clients {
		sr.Deliveries += c.events.Load()
		sr.Logins += c.logins.Load()
		sr.MaskErrors += c.maskErrors.Load()
		sr.MaskChecked += c.maskChecked.Load()
		if s := c.maskSample.Load(); s != nil && sr.MaskSample == "" {
			sr.MaskSample = *s
		}
	}
	for _, w := range sr.Faults {
		sr.WrongFinal += w.WrongFinal
		sr.StaleNodes += w.StaleNodes
	}
	sr.DoubleOwner, sr.DoubleAMI, sr.OwnerSamples = int(doubleOwner.Load()), int(doubleAMI.Load()), int(samples.Load())
	if s := firstDouble.Load(); s != nil {
		sr.Reasons = append(sr.Reasons, "first double owner or AMI session: "+*s)
	}
	q, f := l.quietHist, l.faultHist
	sr.P50Ms, sr.P99Ms, sr.MaxMs = ms(q.Quantile(0.5)), ms(q.Quantile(0.99)), ms(q.Max())
	sr.FaultP50Ms, sr.FaultP99Ms, sr.FaultMaxMs = ms(f.Quantile(0.5)), ms(f.Quantile(0.99)), ms(f.Max())
	sr.flatness(len(schedule))
	return nil
}

// converge waits (at most limit) until every client's view equals its
// node's REST snapshot for its user and the nodes' snapshots agree; it
// returns the seconds since healed (-1: never; the resolution is one
// check round, about a second at 300 clients on 2 cores), the clients that still
// differ and the nodes whose snapshot differs from node 3's (the witness),
// with a sample.
func (l *soakLab) converge(ctx context.Context, healed time.Time, limit time.Duration) (float64, int, int, string) {
	done := map[*soakClient]bool{}
	var wrong, stale int
	var sample string
	for {
		t0 := time.Now()
		wrong, stale, sample = l.checkViews(ctx, done)
		l.log.Debug("soak: views checked", "seconds", time.Since(t0).Seconds(), "wrong", wrong, "stale", stale)
		if wrong == 0 && stale == 0 {
			// Converged when this round ended, if a round over every
			// client confirms that nothing moved since.
			at := time.Since(healed).Seconds()
			clear(done)
			if wrong, stale, sample = l.checkViews(ctx, done); wrong == 0 && stale == 0 {
				return at, 0, 0, ""
			}
		}
		if time.Since(healed) > limit || ctx.Err() != nil {
			return -1, wrong, stale, sample
		}
		_ = sleepCtx(ctx, time.Second)
	}
}

// checkViews compares the views of the clients not in done with their
// node's REST snapshot (marking those that match) and the nodes'
// snapshots of user 0 with each other.
func (l *soakLab) checkViews(ctx context.Context, done map[*soakClient]bool) (wrong, stale int, sample string) {
	snaps := map[string]map[string]string{} // node URL → user 0's normalised snapshot
	tok0 := l.clients[0].token
	for i := range soakNodes {
		u := l.nodeURL(i)
		s, err := restExtensions(ctx, l.hc, u, tok0)
		if err != nil {
			stale++
			sample = fmt.Sprintf("node %d: %v", i+1, err)
			continue
		}
		n := make(map[string]string, len(s))
		for k, raw := range s {
			n[k] = normaliseJSON(raw)
		}
		snaps[u] = n
	}
	if ref := snaps[l.nodeURL(soakNodes-1)]; ref != nil {
		if why := l.behindPBX(ref); why != "" {
			stale++
			sample = why
		}
		for i := range soakNodes - 1 {
			if s := snaps[l.nodeURL(i)]; s != nil && !sameSnap(s, ref) {
				stale++
				sample = fmt.Sprintf("node %d's snapshot differs from node %d's", i+1, soakNodes)
			}
		}
	}
	// Four at a time: a round over every client stays well under the
	// 1 s between rounds, so it does not blur the recovery time.
	var mu sync.Mutex
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for _, c := range l.clients {
		mu.Lock()
		skip := done[c]
		mu.Unlock()
		if skip {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ok, why := l.checkClient(ctx, c)
			mu.Lock()
			defer mu.Unlock()
			if ok {
				done[c] = true
				return
			}
			wrong++
			sample = why
		})
	}
	wg.Wait()
	return wrong, stale, sample
}

// checkClient compares c's view with its node's REST snapshot for its
// user, and checks that snapshot's masking for a privacy user.
func (l *soakLab) checkClient(ctx context.Context, c *soakClient) (ok bool, why string) {
	snap, err := restExtensions(ctx, l.hc, l.nodeURL(c.node), c.token)
	if err != nil {
		return false, fmt.Sprintf("%s: REST: %v", UserName(c.user), err)
	}
	if c.privacy {
		for k, raw := range snap {
			if k == Extension(c.user) {
				continue
			}
			bad, n := unmasked(raw)
			c.maskChecked.Add(uint64(n))
			if bad != "" {
				c.maskErrors.Add(1)
				s := fmt.Sprintf("REST for %s: %s of extension %s", UserName(c.user), bad, k)
				c.maskSample.CompareAndSwap(nil, &s)
			}
		}
	}
	diff, ready := c.matches(snap)
	switch {
	case !ready:
		return false, fmt.Sprintf("%s on node %d: not logged in", UserName(c.user), c.node+1)
	case len(diff) > 0:
		return false, fmt.Sprintf("%s on node %d: extensions %v differ, e.g. view %s rest %s", UserName(c.user), c.node+1, diff,
			clip(string(c.viewOf(diff[0])), 300), clip(string(snap[diff[0]]), 300))
	}
	return true, ""
}

// behindPBX checks a node's snapshot (normalised) against the simulated
// PBX: every extension carries the last bench change the PBX wrote for it
// (the PBX is paused). It names the first extension that does not.
func (l *soakLab) behindPBX(snap map[string]string) string {
	l.simMu.Lock()
	var written uint64
	up := l.sim != nil
	if up {
		written = l.sim.Stats().BenchChanges
	}
	l.simMu.Unlock()
	if !up {
		return "the simulated PBX is down"
	}
	for k := range l.spec.Users {
		var e struct {
			UA string `json:"sipuseragent"`
		}
		_ = json.Unmarshal([]byte(snap[Extension(k)]), &e)
		want := FinalSeq(written, l.spec.Users, k)
		got, _, ok := sim.ParseBenchUserAgent(e.UA)
		if (want == 0 && ok) || (want > 0 && (!ok || got != want)) {
			return fmt.Sprintf("node %d is behind the PBX: extension %s has %q, the PBX wrote seq %d last", soakNodes, Extension(k), e.UA, want)
		}
	}
	return ""
}

func sameSnap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// sample reads every node's RSS and goroutines.
func (l *soakLab) sample(ctx context.Context, at time.Duration) SoakSample {
	s := SoakSample{At: at.Seconds(), RSSMiB: make([]float64, soakNodes), Goroutines: make([]float64, soakNodes)}
	l.nodesMu.RLock()
	defer l.nodesMu.RUnlock()
	for i, n := range l.c.Nodes {
		if !n.Alive() {
			continue
		}
		if p, err := ReadProc(n.Pid()); err == nil {
			s.RSSMiB[i] = float64(p.RSS) / (1 << 20)
		}
		s.Goroutines[i] = l.c.NodeMetric(ctx, i, "go_goroutines")
	}
	return s
}

// flatness compares the witness node's (node 3, never restarted) RSS and
// goroutines at the end with the end of the first cycle (the warm-up);
// judged only with at least two cycles.
func (r *SoakResult) flatness(cycle int) {
	w := soakNodes - 1
	if len(r.Samples) < 2*cycle || cycle == 0 {
		return
	}
	base := r.Samples[cycle-1]
	last := r.Samples[len(r.Samples)-1]
	if base.RSSMiB[w] == 0 || last.RSSMiB[w] == 0 {
		return
	}
	r.FlatJudged = true
	r.WitnessRSSPct = (last.RSSMiB[w] - base.RSSMiB[w]) / base.RSSMiB[w] * 100
	r.WitnessGorDiff = last.Goroutines[w] - base.Goroutines[w]
}

// judge sets Pass and the reasons.
func (r *SoakResult) judge() {
	var why []string
	if r.WrongFinal > 0 {
		why = append(why, fmt.Sprintf("%d wrong final states", r.WrongFinal))
	}
	if r.StaleNodes > 0 {
		why = append(why, fmt.Sprintf("%d stale node snapshots", r.StaleNodes))
	}
	if r.MaskErrors > 0 {
		why = append(why, fmt.Sprintf("%d mask errors (%s)", r.MaskErrors, r.MaskSample))
	}
	if r.DoubleOwner > 0 {
		why = append(why, fmt.Sprintf("two owners in %d samples", r.DoubleOwner))
	}
	if r.DoubleAMI > 0 {
		why = append(why, fmt.Sprintf("several AMI sessions in %d samples", r.DoubleAMI))
	}
	for _, f := range r.Faults {
		if f.Error != "" {
			why = append(why, fmt.Sprintf("%s: %s", f.Fault, f.Error))
		}
	}
	if r.FlatJudged && (r.WitnessRSSPct > soakRSSGrowthPct || r.WitnessGorDiff > soakGoroutineGrowth) {
		why = append(why, fmt.Sprintf("witness node grew: RSS %+.1f %% (limit %g %%), goroutines %+.0f (limit %g)",
			r.WitnessRSSPct, soakRSSGrowthPct, r.WitnessGorDiff, soakGoroutineGrowth))
	}
	if len(r.Faults) == 0 {
		why = append(why, "no fault ran")
	}
	r.Reasons = append(why, r.Reasons...)
	r.Pass = len(why) == 0
}

// maxRecovery returns the longest recovery of each fault kind, in
// schedule order.
func (r *SoakResult) maxRecovery() []SoakWindow {
	var order []string
	byName := map[string]SoakWindow{}
	for _, f := range r.Faults {
		cur, ok := byName[f.Fault]
		if !ok {
			order = append(order, f.Fault)
			byName[f.Fault] = f
			continue
		}
		if f.RecoverySec < 0 || (cur.RecoverySec >= 0 && f.RecoverySec > cur.RecoverySec) {
			cur.RecoverySec = f.RecoverySec
		}
		cur.WrongFinal += f.WrongFinal
		cur.StaleNodes += f.StaleNodes
		if cur.Sample == "" {
			cur.Sample = f.Sample
		}
		byName[f.Fault] = cur
	}
	out := make([]SoakWindow, 0, len(order))
	for _, n := range order {
		out = append(out, byName[n])
	}
	return out
}

// countByFault counts the runs of each fault.
func (r *SoakResult) countByFault() map[string]int {
	m := map[string]int{}
	for _, f := range r.Faults {
		m[f.Fault]++
	}
	return m
}

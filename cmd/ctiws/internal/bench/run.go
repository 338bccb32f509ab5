// Package bench is the load generator behind `ctiws bench`: it starts a
// simulated PBX, optionally a throwaway redis-server, and ctiws node
// processes on loopback, logs thousands of Socket.IO clients in with
// pre-issued JWTs, drives bench changes through the real path (AMI bytes →
// model → bus → every node → sockets) and measures end-to-end latency,
// delivery, server CPU and memory.
package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Scenario names.
const (
	ScenarioIdle       = "idle"
	ScenarioFanout     = "fanout"
	ScenarioLoginStorm = "login-storm"
	ScenarioFailover   = "failover"
	ScenarioQuick      = "quick"
	ScenarioFloor      = "floor"
	ScenarioFarm       = "farm"
	ScenarioMemory     = "memory"
	// ScenarioTraffic is issue 16's set: real PBX traffic (-presence) at
	// 1,000 × 100/s, 5,000 × 20/s and 10,000 × 10/s on 3 nodes + Redis,
	// and idle memory at 10,000 sockets, against that targets.
	ScenarioTraffic = "traffic"
	// ScenarioSoak is the chaos soak: 3 nodes, Redis with Sentinel and
	// the simulated PBX under traffic and calls while a schedule injects
	// network faults, restarts and failovers (docs/benchmarks.md).
	ScenarioSoak = "soak"
)

// ScenarioNames lists the valid -scenario values.
func ScenarioNames() []string {
	return []string{ScenarioIdle, ScenarioFanout, ScenarioLoginStorm, ScenarioFailover, ScenarioQuick, ScenarioFloor, ScenarioFarm, ScenarioMemory, ScenarioTraffic, ScenarioSoak}
}

// Options configure Run. Zero values take the scenario's defaults.
type Options struct {
	Scenario string
	// Binary is the ctiws executable for the nodes.
	Binary string
	// Clients is the number of sockets (and users).
	Clients int
	// Rates are the change rates to step through (fan-out).
	Rates []float64
	// Nodes is the number of ctiws nodes.
	Nodes int
	// Duration is one measurement window.
	Duration time.Duration
	// Runs is the number of windows per rate; results are medians.
	Runs int
	// P99Limit stops a rate ramp at the first rate whose median p99 is
	// above it (0: run every rate).
	P99Limit time.Duration
	// IdleWait is how long idle sockets sit before memory is sampled.
	IdleWait time.Duration
	// Drain bounds the wait for late deliveries after each window.
	Drain time.Duration
	// DialConcurrency bounds simultaneous connects while setting up load
	// (the login storm always connects everything at once).
	DialConcurrency int
	// DialTimeout bounds one client's connect and login.
	DialTimeout time.Duration
	// RedisServer is the redis-server executable.
	RedisServer string
	// LeaseTTL is the nodes' lease_ttl (0: server default).
	LeaseTTL time.Duration
	// ProfileDir, when set, receives a CPU profile of one node for each
	// fan-out rate and a heap profile after the idle scenario.
	ProfileDir string
	// Keep leaves the generated configs and node logs in place.
	Keep bool
	// LogDir, when set, receives the node and Redis logs, kept after the
	// run (see ClusterSpec.LogDir).
	LogDir string
	// Presence makes every change move the extension's presence too, like
	// real PBX traffic (an extenUpdate and a userMainPresenceUpdate per
	// change), instead of a user-agent change alone (one frame).
	Presence bool
	// LoadClient chooses how the bench reads its sockets: LoadEpoll (the
	// default) or LoadGoroutines.
	LoadClient string
	// Tenants and Extensions size the farm scenario (Clients is then per
	// tenant, CallsPerSecond each PBX's call rate); Extensions also sizes
	// the memory scenario.
	Tenants, Extensions int
	CallsPerSecond      float64
	// AB, when set, holds two executables measured in alternation (A B A
	// B …, Pairs windows each) instead of Binary; see ab.go.
	AB []string
	// Pairs is the number of A/B pairs (default 3).
	Pairs int
	// SoakFaults, when set, limits the soak to the faults whose name it
	// matches.
	SoakFaults *regexp.Regexp
}

// Run executes the scenario and returns its report; stdout gets progress
// lines only through log.
func Run(ctx context.Context, o Options, log *slog.Logger) (*Report, error) {
	switch {
	case len(o.AB) > 0:
		if o.ProfileDir != "" {
			return nil, errors.New("bench: -ab and -pprof: the windows' profiles would overwrite each other")
		}
	case o.Binary == "":
		return nil, errors.New("bench: no ctiws binary")
	default:
		if fi, err := os.Stat(o.Binary); err != nil || fi.IsDir() {
			return nil, fmt.Errorf("bench: ctiws binary %q: not a file", o.Binary)
		}
	}
	if o.ProfileDir != "" {
		if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
			return nil, fmt.Errorf("bench: profile directory: %w", err)
		}
	}
	if n, err := raiseNoFile(); err != nil {
		log.Warn("could not raise RLIMIT_NOFILE", "err", err, "limit", n)
	} else {
		log.Info("RLIMIT_NOFILE", "limit", n)
	}
	var err error
	if o.LoadClient, err = checkLoadClient(o.LoadClient); err != nil { // before anything starts
		return nil, fmt.Errorf("bench: %w", err)
	}
	r := &Report{Scenario: o.Scenario, Started: time.Now().UTC(), Machine: machine(), LoadClient: o.LoadClient}
	b := &runner{o: o, log: log, r: r}
	if len(o.AB) > 0 {
		err = b.ab(ctx)
	} else {
		err = b.scenario(ctx)
	}
	if err != nil {
		return nil, err
	}
	err = b.failed
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	return r, err
}

// scenario runs b.o.Scenario with b.o.Binary and adds its results to b.r.
func (b *runner) scenario(ctx context.Context) error {
	o := b.o
	switch o.Scenario {
	case ScenarioIdle:
		b.add(b.idleMedian(ctx, "idle", def(o.Clients, 10000), def(o.Runs, 1)))
	case ScenarioFanout:
		b.add(b.fanout(ctx, "fanout", def(o.Nodes, 3), def(o.Clients, 1000), rates(o.Rates, 100), defD(o.Duration, 20*time.Second), def(o.Runs, 1)))
	case ScenarioLoginStorm:
		b.add(b.loginStorm(ctx, "login-storm", def(o.Nodes, 1), def(o.Clients, 10000)))
	case ScenarioFailover:
		b.add(b.failover(ctx, "failover", def(o.Nodes, 3), def(o.Clients, 1000), rates(o.Rates, 20)[0], defD(o.Duration, 20*time.Second)))
	case ScenarioFloor:
		for _, r := range rates(o.Rates, 100) {
			b.add(b.floor(ctx, fmt.Sprintf("floor: %d sockets × %g/s", def(o.Clients, 1000), r), def(o.Clients, 1000), r, defD(o.Duration, 20*time.Second)))
		}
	case ScenarioFarm:
		fs := FarmSpec{Tenants: def(o.Tenants, 300), Extensions: def(o.Extensions, 20), Nodes: def(o.Nodes, 3),
			ClientsPerTenant: def(o.Clients, 1), CallsPerSecond: o.CallsPerSecond, Samples: 10, SampleCallsPerSecond: 1,
			Idle: defD(o.Duration, 20*time.Second)}
		if fs.CallsPerSecond == 0 {
			fs.CallsPerSecond = 0.05
		}
		fs.Samples = min(fs.Samples, fs.Tenants)
		b.add(b.farm(ctx, fmt.Sprintf("farm: %d tenants × %d extensions, %d nodes", fs.Tenants, fs.Extensions, fs.Nodes), fs))
	case ScenarioMemory:
		n := def(o.Extensions, 10000)
		b.add(b.memory(ctx, fmt.Sprintf("memory: %d extensions, %d nodes + Redis", n, def(o.Nodes, 2)), def(o.Nodes, 2), n))
	case ScenarioTraffic:
		b.o.Presence = true
		nodes, dur, runs := def(o.Nodes, 3), defD(o.Duration, 20*time.Second), def(o.Runs, 3)
		for _, step := range trafficSteps {
			b.add(b.fanout(ctx, fmt.Sprintf("traffic: %d clients × %g/s", step.clients, step.rate), nodes, step.clients, []float64{step.rate}, dur, runs))
		}
		b.add(b.idleMedian(ctx, "idle: 10,000 sockets, 1 node", def(o.Clients, 10000), runs))
	case ScenarioSoak:
		res := b.soak(ctx, SoakSpec{Duration: o.Duration, Users: o.Extensions, Clients: o.Clients, ChangesPerSecond: first(o.Rates), CallsPerSecond: o.CallsPerSecond, Only: o.SoakFaults})
		b.add(res)
		if res.Error != "" || !res.Soak.Pass {
			b.failed = ErrSoakFailed
		}
	case ScenarioQuick:
		b.add(b.idle(ctx, "idle: 2,000 sockets, 1 node", 2000))
		b.add(b.fanout(ctx, "fanout: 1 node, 500 clients × 20/s, 10 s", 1, 500, []float64{20}, 10*time.Second, 1))
		b.add(b.fanout(ctx, "fanout: 3 nodes + Redis, 1,000 clients × 20/s, 10 s", 3, 1000, []float64{20}, 10*time.Second, 1))
		b.add(b.loginStorm(ctx, "login-storm: 2,000 clients, 1 node", 1, 2000))
	default:
		return fmt.Errorf("bench: unknown scenario %q (want one of %s)", o.Scenario, strings.Join(ScenarioNames(), ", "))
	}
	return nil
}

// ab runs the scenario Pairs times with each of the two executables of
// AB, alternating A B A B …, and compares the windows pair by pair.
func (b *runner) ab(ctx context.Context) error {
	if len(b.o.AB) != 2 {
		return fmt.Errorf("bench: -ab wants two executables, got %d", len(b.o.AB))
	}
	if !slices.Contains(ABScenarios(), b.o.Scenario) {
		return fmt.Errorf("bench: -ab runs %s, not %q", strings.Join(ABScenarios(), ", "), b.o.Scenario)
	}
	for _, bin := range b.o.AB {
		if fi, err := os.Stat(bin); err != nil || fi.IsDir() {
			return fmt.Errorf("bench: -ab executable %q: not a file", bin)
		}
	}
	pairs := def(b.o.Pairs, 3)
	all := b.r
	figs := [2][][]figure{}
	for i := range pairs {
		for side, bin := range b.o.AB {
			if ctx.Err() != nil {
				break
			}
			label := fmt.Sprintf("%c%d", 'A'+side, i+1)
			b.log.Info("A/B window", "window", label, "ctiws", bin)
			b.o.Binary = bin
			b.r = &Report{}
			if err := b.scenario(ctx); err != nil {
				b.r = all
				return err
			}
			figs[side] = append(figs[side], abFigures(b.r.Results))
			for _, res := range b.r.Results {
				res.Name = label + ": " + res.Name
				all.Results = append(all.Results, res)
			}
		}
	}
	b.r = all
	all.AB = &ABResult{A: b.o.AB[0], B: b.o.AB[1], Pairs: pairs, Figures: compareAB(figs[0], figs[1])}
	return nil
}

type runner struct {
	o   Options
	log *slog.Logger
	r   *Report
	// failed is a verdict that fails the run once its report is written
	// (ErrSoakFailed).
	failed error
}

func (b *runner) add(res Result) { b.r.Results = append(b.r.Results, res) }

func def(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

func defD(v, d time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return d
}

// first returns v's first value (0 when empty).
func first(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return v[0]
}

func rates(v []float64, d float64) []float64 {
	if len(v) > 0 {
		return v
	}
	return []float64{d}
}

// raiseNoFile lifts RLIMIT_NOFILE as far as allowed (children inherit it).
func raiseNoFile() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	want := syscall.Rlimit{Cur: 1 << 20, Max: 1 << 20}
	if lim.Max > want.Max {
		want = syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err == nil {
		return want.Cur, nil
	}
	// Not privileged: the soft limit can still go up to the hard one.
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return lim.Cur, fmt.Errorf("setrlimit: %w", err)
	}
	return lim.Cur, nil
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range bytes.SplitSeq(b, []byte("\n")) {
			if k, v, ok := bytes.Cut(line, []byte(":")); ok && string(bytes.TrimSpace(k)) == "model name" {
				m.CPUModel = string(bytes.TrimSpace(v))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range bytes.SplitSeq(b, []byte("\n")) {
			if k, v, ok := bytes.Cut(line, []byte(":")); ok && string(k) == "MemTotal" {
				_, _ = fmt.Sscanf(string(bytes.TrimSpace(v)), "%d", &m.MemoryKiB)
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			m.Load1 = f[0]
		}
	}
	return m
}

// Output writes the report as text to w and, with jsonPath, as JSON.
func Output(r *Report, w io.Writer, jsonPath string) error {
	r.WriteText(w)
	if jsonPath != "" {
		return r.WriteJSON(jsonPath)
	}
	return nil
}

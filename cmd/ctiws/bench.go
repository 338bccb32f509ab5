package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ctiws/ctiws/cmd/ctiws/internal/bench"
)

// cmdBench runs a load scenario against ctiws nodes it starts itself (see
// docs/benchmarks.md) and prints tables and a verdict against the targets
// on stdout; logs go to files in -log-dir; -json also writes the report.
func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o bench.Options
	fs.StringVar(&o.Scenario, "scenario", bench.ScenarioQuick, "scenario: "+strings.Join(bench.ScenarioNames(), ", "))
	fs.StringVar(&o.Binary, "ctiws", "", "ctiws executable started as 'serve' for each node (default: this executable)")
	fs.IntVar(&o.Clients, "clients", 0, "sockets (and users); default per scenario: idle 10000, fanout 1000, login-storm 10000, failover 1000, soak 300 (of -extensions users)")
	rateList := fs.String("rate", "", "bench changes per second; a comma list ramps (fanout), default fanout 100, failover 20, soak 10 (with presence)")
	fs.IntVar(&o.Nodes, "nodes", 0, "ctiws nodes (more than one starts redis-server); default fanout/failover 3, login-storm 1")
	fs.DurationVar(&o.Duration, "duration", 0, "measurement window (default 20s); soak: how long the fault schedule runs (default 10m; under 5m the short schedule runs once)")
	fs.IntVar(&o.Runs, "runs", 0, "windows per rate (idle: fresh nodes); the table shows medians (default 1; traffic 3)")
	fs.DurationVar(&o.P99Limit, "p99-limit", 0, "stop a -rate ramp at the first rate whose p99 exceeds this (e.g. 50ms)")
	fs.DurationVar(&o.IdleWait, "idle-wait", 0, "idle: how long sockets sit before RSS is read (default 30s; quick 15s)")
	fs.DurationVar(&o.Drain, "drain", 0, "wait at most this long for late deliveries after a window (default 5s)")
	fs.IntVar(&o.DialConcurrency, "dial-concurrency", 0, "simultaneous connects while setting up load (default 256)")
	fs.DurationVar(&o.DialTimeout, "dial-timeout", 0, "bound on one client's connect and login (default 30s)")
	fs.StringVar(&o.RedisServer, "redis-server", "redis-server", "redis-server executable for multi-node scenarios")
	fs.DurationVar(&o.LeaseTTL, "lease-ttl", 0, "lease_ttl of the nodes (default: the server's default)")
	fs.StringVar(&o.ProfileDir, "pprof", "", "directory for node CPU profiles (one per fan-out rate) and the idle heap profile; turns pprof on in the nodes")
	fs.BoolVar(&o.Keep, "keep", false, "keep the generated configs (and node logs, with -log-dir \"\")")
	fs.StringVar(&o.LogDir, "log-dir", "", "directory for the bench's own log (bench.log) and every node's and Redis's log (default: a new ctiws-bench-logs-* in the temp dir)")
	fs.BoolVar(&o.Presence, "presence", false, "fan-out: every change also moves the extension's presence (real traffic: extenUpdate + userMainPresenceUpdate)")
	fs.StringVar(&o.LoadClient, "load-client", bench.LoadEpoll, "how the load client reads its sockets: epoll (a few epoll loops, one read per socket per burst) or goroutines (a ws/client goroutine per socket)")
	fs.IntVar(&o.Tenants, "tenants", 0, "farm: tenants, each a simulated PBX (default 300); -clients is then per tenant (default 1)")
	fs.IntVar(&o.Extensions, "extensions", 0, "farm: extensions (and users) per tenant (default 20); memory: extensions of the tenant (default 10000); soak: users (default 100)")
	fs.Float64Var(&o.CallsPerSecond, "calls-per-second", 0, "farm: simulated calls per second per PBX (default 0.05); soak: calls per second (default 0.5)")
	soakFaults := fs.String("faults", "", "soak: run only the faults whose name matches this regular expression (e.g. '^AMI|failover'), cycling for -duration")
	abList := fs.String("ab", "", "OLD,NEW: measure two ctiws executables in alternation (A B A B …, fresh nodes each window) and report each figure's ratio B/A pair by pair; scenarios "+strings.Join(bench.ABScenarios(), ", "))
	fs.IntVar(&o.Pairs, "pairs", 0, "with -ab: A/B pairs of windows (default 3)")
	jsonPath := fs.String("json", "", "also write the report as JSON to this file")
	verbose := fs.Bool("v", false, "log progress at debug level")
	floorWriter := fs.Bool("floor-writer", false, "internal: be the writer process of -scenario floor (uses -clients and -rate; ends when stdin closes)")
	if err := fs.Parse(args); err != nil {
		return errUsage{err}
	}
	if *floorWriter {
		rate, err := strconv.ParseFloat(*rateList, 64)
		if err != nil {
			return usageErr("bench: -floor-writer needs one -rate")
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
		return bench.FloorWriter(ctx, o.Clients, rate, stdout)
	}
	if *soakFaults != "" {
		re, err := regexp.Compile(*soakFaults)
		if err != nil {
			return usageErr("bench: -faults: %v", err)
		}
		o.SoakFaults = re
	}
	if fs.NArg() > 0 {
		return usageErr("bench: unexpected argument %q", fs.Arg(0))
	}
	valid := false
	for _, s := range bench.ScenarioNames() {
		valid = valid || s == o.Scenario
	}
	if !valid {
		return usageErr("bench: -scenario %q: want one of %s", o.Scenario, strings.Join(bench.ScenarioNames(), ", "))
	}
	if *rateList != "" {
		for _, f := range strings.Split(*rateList, ",") {
			r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || r <= 0 || r > 1e5 {
				return usageErr("bench: -rate %q: want positive numbers up to 100000, comma separated", *rateList)
			}
			o.Rates = append(o.Rates, r)
		}
	}
	if o.Clients < 0 || o.Nodes < 0 || o.Runs < 0 || o.Duration < 0 || o.DialConcurrency < 0 || o.Tenants < 0 || o.Extensions < 0 || o.CallsPerSecond < 0 {
		return usageErr("bench: -clients, -nodes, -runs, -duration, -dial-concurrency, -tenants, -extensions and -calls-per-second must not be negative")
	}
	if o.Scenario == bench.ScenarioFarm && o.Nodes == 1 {
		return usageErr("bench: farm needs -nodes 2 or more")
	}
	if o.Scenario == bench.ScenarioFailover && o.Nodes == 1 {
		return usageErr("bench: failover needs -nodes 2 or more")
	}
	if *abList != "" {
		o.AB = strings.Split(*abList, ",")
		if len(o.AB) != 2 || o.AB[0] == "" || o.AB[1] == "" {
			return usageErr("bench: -ab %q: want two executables, OLD,NEW", *abList)
		}
		if o.Binary != "" {
			return usageErr("bench: -ab names both executables: drop -ctiws")
		}
		if o.ProfileDir != "" {
			return usageErr("bench: -ab and -pprof: the windows' profiles would overwrite each other")
		}
		ok := false
		for _, s := range bench.ABScenarios() {
			ok = ok || s == o.Scenario
		}
		if !ok {
			return usageErr("bench: -ab runs -scenario %s, not %q", strings.Join(bench.ABScenarios(), ", "), o.Scenario)
		}
	} else if o.Pairs != 0 {
		return usageErr("bench: -pairs needs -ab")
	}
	if o.Pairs < 0 {
		return usageErr("bench: -pairs must not be negative")
	}
	if o.Binary == "" && len(o.AB) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("bench: find this executable (use -ctiws): %w", err)
		}
		o.Binary = exe
	}
	level := "info"
	if *verbose {
		level = "debug"
	}
	// Logs go to files so that stdout carries only the tables and the
	// verdict.
	logFile, err := openBenchLog(&o.LogDir)
	if err != nil {
		return err
	}
	defer logFile.Close()
	fmt.Fprintf(stderr, "ctiws bench: logs in %s (bench.log, one per node)\n", o.LogDir)
	log := newLogger(logFile, level)
	// Every scenario ends by itself; this is a last-resort bound.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Hour)
	defer cancel()
	rep, err := bench.Run(ctx, o, log)
	if rep != nil {
		if oerr := bench.Output(rep, stdout, *jsonPath); oerr != nil {
			return oerr
		}
	}
	fmt.Fprintf(stderr, "ctiws bench: logs in %s\n", o.LogDir)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

// openBenchLog creates *dir (a new temporary directory when empty, then
// stored back in *dir) and the bench's own log file bench.log in it.
func openBenchLog(dir *string) (*os.File, error) {
	if *dir == "" {
		d, err := os.MkdirTemp("", "ctiws-bench-logs-")
		if err != nil {
			return nil, fmt.Errorf("bench: log directory: %w", err)
		}
		*dir = d
	} else if err := os.MkdirAll(*dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: -log-dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(*dir, "bench.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("bench: log file: %w", err)
	}
	return f, nil
}

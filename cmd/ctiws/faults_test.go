package main

// Network faults between a node and Redis or its PBX (docs/operations.md,
// section 7.7): two nodes, one tenant, the faulted link through
// internal/faultproxy. Each case states its bounds; the invariants hold in
// every case: at most one node counts itself the owner at any instant
// (judged from the nodes' logs, one clock), at most one AMI session logged
// in at the simulated PBX at any 20 ms sample, and once the fault heals one
// owner, one AMI session and every client's view equal to the REST
// snapshot.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/ami/sim"
	"github.com/ctiws/ctiws/cluster/clustertest/redisserver"
	"github.com/ctiws/ctiws/internal/faultproxy"
)

// faultLeaseTTL is the fault cases' lease_ttl: renewals every 1 s,
// step-down 2 s after the last successful renewal was sent, so a renewal
// round trip has 1 s of budget (docs/cluster.md, "One owner at a time").
const faultLeaseTTL = 3 * time.Second

// faultCase is one fault on one link and what must hold around it. Every
// bound is measured from the fault's start, except recover, from its end.
type faultCase struct {
	name string
	// ami: the fault is on the PBX's AMI link; else on the owner's Redis
	// link.
	ami bool
	// fault starts the fault and returns when it should end (it may keep
	// acting until then, e.g. resetting connections); heal ends it.
	fault func(p *faultproxy.Proxy, until time.Time)
	heal  func(p *faultproxy.Proxy)
	dur   time.Duration
	// keeps: the owner keeps the tenant throughout, no ownership term
	// begins or ends. Otherwise it steps down (its AMI session closed,
	// "PBX ownership ended") within stepDown and the other node takes the
	// tenant ("PBX ownership acquired") within takeover.
	keeps              bool
	stepDown, takeover time.Duration
	// amiLost, if set: the owner sees its AMI session lost ("ami:
	// connection lost") within it.
	amiLost time.Duration
	// recover bounds, after the heal, one owner with its AMI session up
	// and events reaching every client.
	recover time.Duration
}

func TestClusterNetworkFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster test")
	}
	T := faultLeaseTTL
	cases := []faultCase{
		{
			// The owner steps down 2T/3 after its last renewal was sent
			// (≤ 2T/3 after the fault), before the lease expires (≥ T
			// after that renewal); the other node takes it after the
			// expiry (≤ T after the fault) within four retries of up to
			// T/2 each (it asks Redis every fourth one while the
			// holder's connections are open): ≤ 3T.
			name:  "redis blackhole",
			fault: func(p *faultproxy.Proxy, _ time.Time) { p.SetBlackhole(true) },
			heal:  func(p *faultproxy.Proxy) { p.SetBlackhole(false) },
			dur:   12 * time.Second, stepDown: 2*T/3 + time.Second, takeover: 3*T + time.Second,
			recover: 15 * time.Second,
		},
		{
			// 500 ms round trip: half the budget a renewal has (T/3).
			name: "redis +500ms RTT",
			fault: func(p *faultproxy.Proxy, _ time.Time) {
				p.SetLatency(faultproxy.Up, 250*time.Millisecond)
				p.SetLatency(faultproxy.Down, 250*time.Millisecond)
			},
			heal: func(p *faultproxy.Proxy) {
				p.SetLatency(faultproxy.Up, 0)
				p.SetLatency(faultproxy.Down, 0)
			},
			dur: 10 * time.Second, keeps: true, recover: 10 * time.Second,
		},
		{
			// Every connection reset every 2 s: each renewal that fails
			// on a reset connection is retried on a new one at once.
			name: "redis reset every 2s",
			fault: func(p *faultproxy.Proxy, until time.Time) {
				for time.Until(until) > 0 {
					p.ResetAll()
					time.Sleep(min(2*time.Second, time.Until(until)))
				}
			},
			heal: func(*faultproxy.Proxy) {},
			dur:  8 * time.Second, keeps: true, recover: 10 * time.Second,
		},
		{
			// The owner's AMI session goes silent (no FIN, no RST): its
			// keepalive, a Ping every 10 s (ami.DefaultPingInterval) that
			// must be answered within the next 10 s, sees it within 20 s;
			// the lease stays (Redis is fine), the node reconnects and
			// the session waiting for its banner goes on once it heals.
			name: "ami blackhole", ami: true,
			fault: func(p *faultproxy.Proxy, _ time.Time) { p.SetBlackhole(true) },
			heal:  func(p *faultproxy.Proxy) { p.SetBlackhole(false) },
			dur:   22 * time.Second, keeps: true, amiLost: 21 * time.Second,
			recover: 15 * time.Second,
		},
	}
	for _, fc := range cases {
		t.Run(strings.ReplaceAll(fc.name, " ", "_"), func(t *testing.T) { runFault(t, fc) })
	}
}

// faultCluster is a testCluster of two nodes and the tenant "demo" whose
// nodes each reach Redis through their own fault proxy, and whose PBX is
// reached through one more.
type faultCluster struct {
	*testCluster
	redisProxy map[string]*faultproxy.Proxy // by node name
	amiProxy   *faultproxy.Proxy
	sim        *sim.Server
}

func newFaultCluster(t *testing.T) *faultCluster {
	t.Helper()
	srv := redisserver.Start(t)
	c := &testCluster{t: t, dir: t.TempDir(), redis: srv, redisURL: srv.URL(), sims: map[string]*sim.Server{},
		tenants: []string{"demo"}, tenantYAML: map[string]string{}, lease: faultLeaseTTL, nodeRedisURL: map[string]string{}}
	fc := &faultCluster{testCluster: c, redisProxy: map[string]*faultproxy.Proxy{}}
	c.addSim("demo", 1, 8)
	fc.sim = c.sims["demo"]
	fc.amiProxy = startProxy(t, fc.sim.Addr().String())
	c.tenantYAML["demo"] = strings.Replace(c.tenantYAML["demo"], fc.sim.Addr().String(), fc.amiProxy.Addr(), 1)
	for i := range 2 {
		n := &nodeProc{t: t, name: fmt.Sprintf("node%d", i), listen: freeAddr(t), metrics: freeAddr(t)}
		p := startProxy(t, srv.Addr())
		fc.redisProxy[n.name] = p
		c.nodeRedisURL[n.name] = "redis://" + p.Addr() + "/0"
		n.config = filepath.Join(c.dir, n.name+".yaml")
		c.writeConfig(n, c.tenants)
		startNode(t, n, n.config)
		c.nodes = append(c.nodes, n)
	}
	for _, n := range c.nodes {
		c.eventually(n.name+" ready", 15*time.Second, n.ready)
	}
	return fc
}

func startProxy(t *testing.T, target string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.Start(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// sessionSampler counts the AMI sessions logged in at the simulated PBX
// every 20 ms.
type sessionSampler struct {
	mu      sync.Mutex
	max     int
	maxAt   time.Time
	samples []sessionSample
	stop    chan struct{}
	done    chan struct{}
}

type sessionSample struct {
	at time.Time
	n  int
}

func sampleSessions(s *sim.Server) *sessionSampler {
	ss := &sessionSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(ss.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			n := s.Stats().Clients
			now := time.Now()
			ss.mu.Lock()
			ss.samples = append(ss.samples, sessionSample{now, n})
			if n > ss.max {
				ss.max, ss.maxAt = n, now
			}
			ss.mu.Unlock()
			select {
			case <-ss.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return ss
}

func (ss *sessionSampler) end() {
	close(ss.stop)
	<-ss.done
}

// firstAfter is the first sample at or after from with n sessions, or the
// zero time.
func (ss *sessionSampler) firstAfter(from time.Time, n int) time.Time {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for _, s := range ss.samples {
		if !s.at.Before(from) && s.n == n {
			return s.at
		}
	}
	return time.Time{}
}

// readyWithin reports whether n's /readyz answers 200 within d.
func readyWithin(n *nodeProc, d time.Duration) bool {
	c := http.Client{Timeout: d}
	r, err := c.Get("http://" + n.metrics + "/readyz")
	if err != nil {
		return false
	}
	r.Body.Close()
	return r.StatusCode == http.StatusOK
}

// logTimes returns the times of node n's log lines with message msg.
func logTimes(n *nodeProc, msg string) []time.Time {
	var out []time.Time
	for _, line := range strings.Split(n.log(), "\n") {
		if !strings.HasPrefix(line, "{") || !strings.Contains(line, msg) {
			continue
		}
		var l struct {
			Time time.Time `json:"time"`
			Msg  string    `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == msg {
			out = append(out, l.Time)
		}
	}
	return out
}

func runFault(t *testing.T, fc faultCase) {
	c := newFaultCluster(t)
	var owner *nodeProc
	c.eventually("an owner", 15*time.Second, func() bool { owner = c.owner("demo"); return owner != nil })
	c.eventually("the owner's AMI session", 15*time.Second, func() bool {
		return owner.metric(`ctiws_ami_connected{tenant="demo"}`) == 1 && c.sim.Stats().Clients == 1
	})
	other := c.nodes[0]
	if other == owner {
		other = c.nodes[1]
	}
	viewers := []*viewer{c.connect(owner, "demo", "alice"), c.connect(other, "demo", "dave")}
	c.eventually("events on every client", 15*time.Second, func() bool {
		return viewers[0].count("extenUpdate") > 0 && viewers[1].count("extenUpdate") > 0
	})
	// The steady state: the owner has renewed its lease once (on a fresh
	// Redis the first renewal also caches the script: two round trips).
	for _, tm := range c.terms() {
		if tm.node == owner.name && tm.to.IsZero() {
			time.Sleep(time.Until(tm.from.Add(faultLeaseTTL / 2)))
		}
	}
	p := c.redisProxy[owner.name]
	if fc.ami {
		p = c.amiProxy
	}
	sessions := sampleSessions(c.sim)
	start := time.Now()
	// What an operator's probes see in the middle of the fault
	// (docs/operations.md, section 7.7).
	readyMid := make(chan string, 1)
	go func() {
		time.Sleep(fc.dur / 2)
		readyMid <- fmt.Sprintf("/readyz within the chart's 3 s probe timeout: %s %v, %s %v",
			owner.name, readyWithin(owner, 3*time.Second), other.name, readyWithin(other, 3*time.Second))
	}()
	fc.fault(p, start.Add(fc.dur))
	time.Sleep(time.Until(start.Add(fc.dur)))
	fc.heal(p)
	healed := time.Now()
	t.Logf("%s on %s's link, healed after %v; in the middle: %s", fc.name, owner.name, healed.Sub(start).Round(time.Millisecond), <-readyMid)

	var final *nodeProc
	took := c.eventually("one owner with its AMI session and events on every client after the heal", fc.recover, func() bool {
		final = c.owner("demo")
		if final == nil || final.metric(`ctiws_ami_connected{tenant="demo"}`) != 1 || c.sim.Stats().Clients != 1 {
			return false
		}
		for _, n := range c.nodes {
			if n != final && n.metric(`ctiws_lease_owned{tenant="demo"}`) != 0 {
				return false
			}
		}
		return true
	})
	before := [2]int{viewers[0].count("extenUpdate"), viewers[1].count("extenUpdate")}
	c.eventually("events reaching every client after the heal", fc.recover, func() bool {
		return viewers[0].count("extenUpdate") > before[0] && viewers[1].count("extenUpdate") > before[1]
	})
	t.Logf("%s: owner %s with its AMI session %v after the heal", fc.name, final.name, took.Round(time.Millisecond))
	c.quiesce("demo")
	sessions.end()
	for _, v := range viewers {
		c.assertViewMatchesREST(v, map[*nodeProc]string{owner: "alice", other: "dave"}[v.node])
	}

	terms := c.terms()
	if both := overlapping(terms); len(both) > 0 {
		t.Errorf("two nodes counted themselves the owner at once: %v", both)
	}
	if sessions.max > 1 {
		t.Errorf("%d AMI sessions logged in at the PBX at %s", sessions.max, sessions.maxAt.Format("15:04:05.000"))
	}
	var changed []ownerTerm
	var ended, began time.Time
	for _, tm := range terms {
		if tm.from.After(start) || (!tm.to.IsZero() && tm.to.After(start)) {
			changed = append(changed, tm)
		}
		if tm.node == owner.name && !tm.to.IsZero() && tm.to.After(start) && ended.IsZero() {
			ended = tm.to
		}
		if tm.node == other.name && tm.from.After(start) && began.IsZero() {
			began = tm.from
		}
	}
	t.Logf("%s: ownership terms that began or ended after the fault: %v", fc.name, changed)
	if fc.keeps {
		if len(changed) > 0 {
			t.Errorf("the lease moved: %v", changed)
		}
	} else {
		amiClosed := sessions.firstAfter(start, 0)
		t.Logf("%s: step-down %v (AMI session closed at the PBX %v), takeover %v after the fault", fc.name,
			ended.Sub(start).Round(time.Millisecond), amiClosed.Sub(start).Round(time.Millisecond), began.Sub(start).Round(time.Millisecond))
		switch {
		case ended.IsZero():
			t.Errorf("%s never stepped down", owner.name)
		case ended.Sub(start) > fc.stepDown:
			t.Errorf("%s stepped down %v after the fault, want ≤ %v", owner.name, ended.Sub(start), fc.stepDown)
		}
		switch {
		case amiClosed.IsZero() || amiClosed.Sub(start) > fc.stepDown:
			t.Errorf("the AMI session closed %v after the fault, want ≤ %v", amiClosed.Sub(start), fc.stepDown)
		case began.IsZero() || began.Sub(start) > fc.takeover:
			t.Errorf("%s took the tenant %v after the fault, want ≤ %v", other.name, began.Sub(start), fc.takeover)
		}
	}
	if fc.amiLost > 0 {
		lost := time.Time{}
		for _, at := range logTimes(owner, "ami: connection lost, reconnecting") {
			if at.After(start) {
				lost = at
				break
			}
		}
		t.Logf("%s: AMI session loss seen %v after the fault", fc.name, lost.Sub(start).Round(time.Millisecond))
		if lost.IsZero() || lost.Sub(start) > fc.amiLost {
			t.Errorf("AMI session loss seen %v after the fault, want ≤ %v", lost.Sub(start), fc.amiLost)
		}
	}
}

package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctiws/ctiws/ami/sim"
	"github.com/ctiws/ctiws/internal/faultproxy"
)

// soakNodes is the number of ctiws nodes of the soak.
const soakNodes = 3

// SoakSpec sizes the soak (zero values: defaults).
type SoakSpec struct {
	// Duration is how long the schedule runs (cycling through it).
	Duration time.Duration
	// Users is the number of users (and extensions); Clients the sockets,
	// user i%Users each, spread over the nodes; StallClients of them go
	// through the client proxies.
	Users, Clients, StallClients int
	// ChangesPerSecond are presence changes (two frames each);
	// CallsPerSecond simulated calls.
	ChangesPerSecond, CallsPerSecond float64
	// Recovery bounds the wait for convergence after each fault.
	Recovery time.Duration
	// Only, when set, runs only the faults whose name it matches, cycling
	// for Duration.
	Only *regexp.Regexp `json:"-"`
}

func (s *SoakSpec) defaults() {
	s.Duration = defD(s.Duration, 10*time.Minute)
	s.Users = def(s.Users, 100)
	s.Clients = def(s.Clients, 300)
	s.StallClients = min(def(s.StallClients, s.Clients/10), s.Clients)
	if s.ChangesPerSecond <= 0 {
		s.ChangesPerSecond = 10
	}
	if s.CallsPerSecond <= 0 {
		s.CallsPerSecond = 0.5
	}
	s.Recovery = defD(s.Recovery, 60*time.Second)
}

// soakLab is the soak's topology: Redis with Sentinel behind a master
// VIP, three nodes each reaching the VIP and the simulated PBX through
// their own fault proxies, a fault proxy in front of each node for the
// stalling clients, and the clients.
type soakLab struct {
	log  *slog.Logger
	spec SoakSpec
	hc   *http.Client

	redis         *soakRedis
	vip           *masterVIP
	redisProxies  [soakNodes]*faultproxy.Proxy
	amiProxies    [soakNodes]*faultproxy.Proxy
	clientProxies [soakNodes]*faultproxy.Proxy

	simMu   sync.Mutex
	sim     *sim.Server
	simCfg  sim.Config
	simAddr string

	// nodesMu guards c.Nodes against a restart (Restart replaces the
	// entry) while the monitor reads them.
	nodesMu sync.RWMutex
	c       *Cluster

	clients []*soakClient
	// hist is the histogram the clients record into: faultHist during the
	// fault windows, quietHist during the quiet traffic windows.
	hist                 atomic.Pointer[Histogram]
	faultHist, quietHist *Histogram
	wg                   sync.WaitGroup
}

// startSoakLab starts everything and logs the clients in.
func (b *runner) startSoakLab(ctx context.Context, spec SoakSpec) (l *soakLab, err error) {
	dir, err := os.MkdirTemp("", "ctiws-soak-")
	if err != nil {
		return nil, fmt.Errorf("create work directory: %w", err)
	}
	l = &soakLab{log: b.log, spec: spec, hc: &http.Client{Timeout: 10 * time.Second}, faultHist: &Histogram{}, quietHist: &Histogram{}}
	l.hist.Store(l.faultHist)
	l.c = &Cluster{spec: ClusterSpec{Binary: b.o.Binary, Keep: b.o.Keep, Nodes: soakNodes, LogDir: b.o.LogDir, Users: spec.Users, ReadyTimeout: 60 * time.Second},
		log: b.log, dir: dir, hc: l.hc, jwtSecret: []byte(randomHex(16))}
	defer func() {
		if err != nil {
			l.stop()
		}
	}()
	users, err := UsersJSON(spec.Users)
	if err != nil {
		return l, err
	}
	if err := os.WriteFile(filepath.Join(dir, "users.json"), users, 0o600); err != nil {
		return l, fmt.Errorf("write users.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "profiles.json"), ProfilesJSON(), 0o600); err != nil {
		return l, fmt.Errorf("write profiles.json: %w", err)
	}
	l.simCfg = SimConfig(spec.Users, spec.ChangesPerSecond)
	l.simCfg.BenchPresence = true
	l.simCfg.CallsPerSecond = spec.CallsPerSecond
	if err := l.startSim(ctx); err != nil {
		return l, err
	}
	if l.redis, err = startSoakRedis(ctx, dir, b.o.RedisServer, l.c.logPath, b.log); err != nil {
		return l, err
	}
	if l.vip, err = startMasterVIP(ctx, l.redis, b.log); err != nil {
		return l, err
	}
	for i := range soakNodes {
		if l.redisProxies[i], err = faultproxy.Start(l.vip.Addr()); err != nil {
			return l, fmt.Errorf("redis proxy: %w", err)
		}
		if l.amiProxies[i], err = faultproxy.Start(l.simAddr); err != nil {
			return l, fmt.Errorf("AMI proxy: %w", err)
		}
		listen, metrics, err := nodeAddrs()
		if err != nil {
			return l, err
		}
		id := fmt.Sprintf("soak-node-%d", i+1)
		nc := NodeConfig{
			NodeID: id, Listen: listen, MetricsListen: metrics, LogLevel: "info",
			RedisURL: "redis://" + l.redisProxies[i].Addr() + "/0", AMIAddress: l.amiProxies[i].Addr(), AMIUsername: l.simCfg.Username, AMISecret: l.simCfg.Secret,
			JWTSecret: string(l.c.jwtSecret), LeaseTTL: soakLeaseTTL, PingInterval: soakPingInterval, PingTimeout: soakPingTimeout,
		}
		if err := l.c.launch(id, ConfigYAML(nc), listen, metrics); err != nil {
			return l, err
		}
		if l.clientProxies[i], err = faultproxy.Start(listen); err != nil {
			return l, fmt.Errorf("client proxy: %w", err)
		}
	}
	if err := l.c.waitReady(ctx); err != nil {
		return l, err
	}
	return l, l.startClients(ctx)
}

// startClients logs every client in and waits until each holds its
// snapshot.
func (l *soakLab) startClients(ctx context.Context) error {
	for k := range l.spec.Clients {
		u := k % l.spec.Users
		tok, err := soakToken(u, l.c.jwtSecret)
		if err != nil {
			return err
		}
		c := &soakClient{user: u, privacy: u%2 == 1, node: k % soakNodes, token: tok, hist: &l.hist}
		c.url = l.c.Nodes[c.node].URL
		if k < l.spec.StallClients { // spread over the nodes like the others

			c.url = "http://" + l.clientProxies[c.node].Addr()
		}
		l.clients = append(l.clients, c)
	}
	for _, c := range l.clients {
		node := c.node
		l.wg.Go(func() { c.run(ctx, l.hc, func() string { return l.nodeURL(node) }) })
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		n := 0
		for _, c := range l.clients {
			if _, ready := c.matches(nil); ready {
				n++
			}
		}
		if n == len(l.clients) {
			l.log.Info("soak clients logged in", "clients", n)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d soak clients logged in within 60 s", n, len(l.clients))
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// startSim starts the simulated PBX (again) on its address.
func (l *soakLab) startSim(ctx context.Context) error {
	l.simMu.Lock()
	defer l.simMu.Unlock()
	s := sim.New(l.simCfg, l.log)
	addr := l.simAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var err error
	for range 50 { // the old listener's port may linger briefly
		a, lerr := s.Listen(ctx, addr)
		if err = lerr; err == nil {
			l.sim, l.simAddr = s, a.String()
			return nil
		}
		if serr := sleepCtx(ctx, 100*time.Millisecond); serr != nil {
			return serr
		}
	}
	return fmt.Errorf("start simulated PBX on %s: %w", addr, err)
}

// stopSim closes the simulated PBX.
func (l *soakLab) stopSim() {
	l.simMu.Lock()
	defer l.simMu.Unlock()
	if l.sim != nil {
		_ = l.sim.Close()
		l.sim = nil
	}
}

// setPaused pauses or resumes the simulated traffic (calls and changes).
func (l *soakLab) setPaused(p bool) {
	l.simMu.Lock()
	defer l.simMu.Unlock()
	l.simCfg.StartPaused = p // a restarted PBX starts the same way
	if l.sim != nil {
		l.sim.SetPaused(p)
	}
}

// amiSessions is the number of logged-in AMI connections the simulated
// PBX has (0 while it is down).
func (l *soakLab) amiSessions() int {
	l.simMu.Lock()
	defer l.simMu.Unlock()
	if l.sim == nil {
		return 0
	}
	return l.sim.Stats().Clients
}

// nodeURL is node i's base URL.
func (l *soakLab) nodeURL(i int) string {
	l.nodesMu.RLock()
	defer l.nodesMu.RUnlock()
	return l.c.Nodes[i].URL
}

func (l *soakLab) nodeID(i int) string { return fmt.Sprintf("node %d", i+1) }

// owners returns the nodes whose ctiws_lease_owned for the tenant is 1.
func (l *soakLab) owners(ctx context.Context) []int {
	l.nodesMu.RLock()
	defer l.nodesMu.RUnlock()
	var out []int
	for i, n := range l.c.Nodes {
		if !n.Alive() {
			continue
		}
		body, err := fetch(ctx, l.hc, n.MetricsURL+"/metrics")
		if err != nil {
			continue
		}
		if v, ok := MetricValue(body, "ctiws_lease_owned", `tenant="`+TenantID+`"`); ok && v == 1 {
			out = append(out, i)
		}
	}
	return out
}

// ownerOr returns the owning node, or def when none (or several) own.
func (l *soakLab) ownerOr(def int) int {
	if o := l.owners(context.Background()); len(o) == 1 {
		return o[0]
	}
	return def
}

// restartNode restarts node i and waits until it is ready.
func (l *soakLab) restartNode(ctx context.Context, i int) error {
	l.nodesMu.Lock()
	err := l.c.Restart(i)
	n := l.c.Nodes[i]
	l.nodesMu.Unlock()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := fetch(ctx, l.hc, n.MetricsURL+"/readyz"); err == nil {
			return nil
		}
		if !n.Alive() || time.Now().After(deadline) {
			return fmt.Errorf("%s not ready 30 s after its restart: %s", n.ID, tail(n.logPath, 5))
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// every runs f every d until the returned stop is called or ctx ends.
func (l *soakLab) every(ctx context.Context, d time.Duration, f func()) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for sleepCtx(ctx, d) == nil {
			f()
		}
	}()
	return func() { cancel(); <-done }
}

// stop ends the clients and every process and proxy.
func (l *soakLab) stop() {
	for _, c := range l.clients {
		c.disconnect()
	}
	for _, ps := range [][soakNodes]*faultproxy.Proxy{l.clientProxies, l.redisProxies, l.amiProxies} {
		for _, p := range ps {
			if p != nil {
				_ = p.Close()
			}
		}
	}
	if l.c != nil {
		l.c.Stop()
	}
	if l.vip != nil {
		l.vip.close()
	}
	if l.redis != nil {
		l.redis.stop()
	}
	l.stopSim()
}

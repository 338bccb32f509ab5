package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ctiws/ctiws/ami/sim"
	"github.com/ctiws/ctiws/internal/freeport"
	"github.com/ctiws/ctiws/ws/auth"
)

// ClusterSpec describes the servers a scenario needs.
type ClusterSpec struct {
	// Binary is the ctiws executable started as `serve` for every node.
	Binary string
	// Users is the number of users (and simulated extensions).
	Users int
	// Nodes is the number of ctiws nodes; more than one needs Redis.
	Nodes int
	// RedisServer is the redis-server executable (multi-node only).
	RedisServer string
	// ChangesPerSecond is the simulator's bench change rate (0: none).
	ChangesPerSecond float64
	// Presence: every change moves the extension's presence too.
	Presence bool
	// LeaseTTL is the nodes' lease_ttl (0: the server default).
	LeaseTTL time.Duration
	// Pprof serves net/http/pprof on each node's metrics port.
	Pprof bool
	// TempDir is the parent of the cluster's working directory ("" = OS).
	TempDir string
	// Keep leaves the working directory (configs, logs) in place.
	Keep bool
	// LogDir, when set, receives the node and Redis logs (named after the
	// working directory, e.g. ctiws-bench-123-node1.log), which then
	// outlive the working directory; "" keeps them in it.
	LogDir string
	// ReadyTimeout bounds the start of everything (default 60 s).
	ReadyTimeout time.Duration
}

// Cluster is a running simulated PBX, optional Redis and ctiws nodes, all
// on loopback.
type Cluster struct {
	spec      ClusterSpec
	log       *slog.Logger
	dir       string
	hc        *http.Client
	simCfg    sim.Config
	sim       *sim.Server
	simAddr   string
	redis     *exec.Cmd
	redisDone chan struct{}
	redisURL  string
	jwtSecret []byte
	// Nodes are the ctiws node processes, in start order.
	Nodes []*Node
}

// Node is one ctiws node process.
type Node struct {
	// ID is the node_id; URL the Socket.IO/REST base URL; MetricsURL the
	// metrics_listen base URL.
	ID, URL, MetricsURL string
	cmd                 *exec.Cmd
	done                chan struct{}
	waitErr             error
	logPath             string
	// cfgPath, listen and metricsListen start it again (Restart).
	cfgPath, listen, metricsListen string
}

// Pid is the node's process id.
func (n *Node) Pid() int { return n.cmd.Process.Pid }

// Alive reports whether the process has not exited.
func (n *Node) Alive() bool {
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// StartCluster starts the simulator (paused), Redis when spec.Nodes > 1,
// and the nodes, and waits until the tenant's owner has loaded the PBX.
// On error everything started is stopped again.
func StartCluster(ctx context.Context, spec ClusterSpec, log *slog.Logger) (*Cluster, error) {
	if spec.Nodes < 1 || spec.Users < 1 {
		return nil, fmt.Errorf("cluster needs at least one node and one user (nodes %d, users %d)", spec.Nodes, spec.Users)
	}
	if spec.ReadyTimeout <= 0 {
		spec.ReadyTimeout = 60 * time.Second
	}
	dir, err := os.MkdirTemp(spec.TempDir, "ctiws-bench-")
	if err != nil {
		return nil, fmt.Errorf("create work directory: %w", err)
	}
	c := &Cluster{spec: spec, log: log, dir: dir, hc: &http.Client{Timeout: 10 * time.Second}, jwtSecret: []byte(randomHex(16))}
	if err := c.start(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context) error {
	users, err := UsersJSON(c.spec.Users)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.dir, "users.json"), users, 0o600); err != nil {
		return fmt.Errorf("write users.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, "profiles.json"), ProfilesJSON(), 0o600); err != nil {
		return fmt.Errorf("write profiles.json: %w", err)
	}
	c.simCfg = SimConfig(c.spec.Users, c.spec.ChangesPerSecond)
	c.simCfg.BenchPresence = c.spec.Presence
	c.sim = sim.New(c.simCfg, c.log)
	addr, err := c.sim.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("start simulated PBX: %w", err)
	}
	c.simAddr = addr.String()
	if c.spec.Nodes > 1 {
		if err := c.startRedis(ctx); err != nil {
			return err
		}
	}
	for i := range c.spec.Nodes {
		if err := c.startNode(i); err != nil {
			return err
		}
	}
	return c.waitReady(ctx)
}

// SimConfig is the simulated PBX of a bench run: users extensions from
// FirstExtension, no generated calls, bench changes at rate, start paused.
func SimConfig(users int, rate float64) sim.Config {
	sc := sim.DefaultConfig()
	sc.Username, sc.Secret = "bench", randomHex(8)
	sc.Extensions = sim.ExtensionRange(FirstExtension, FirstExtension+users-1)
	sc.Queues = nil
	sc.CallsPerSecond = 0
	sc.ChangesPerSecond = rate
	sc.StartPaused = true
	return sc
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// JWTSecret is the tenant's jwt_secret.
func (c *Cluster) JWTSecret() []byte { return c.jwtSecret }

// Sim is the simulated PBX.
func (c *Cluster) Sim() *sim.Server { return c.sim }

// Dir is the working directory (configs and node logs).
func (c *Cluster) Dir() string { return c.dir }

// RestartSim replaces the simulator by one with another change rate on the
// same address (paused). The owner reconnects with its backoff; callers
// warm the path up before measuring.
func (c *Cluster) RestartSim(ctx context.Context, rate float64) error {
	_ = c.sim.Close()
	cfg := c.simCfg
	cfg.ChangesPerSecond = rate
	s := sim.New(cfg, c.log)
	var err error
	for range 50 { // the old listener's port may linger briefly
		if _, err = s.Listen(ctx, c.simAddr); err == nil {
			c.sim, c.simCfg = s, cfg
			return nil
		}
		if serr := sleepCtx(ctx, 100*time.Millisecond); serr != nil {
			return serr
		}
	}
	return fmt.Errorf("restart simulated PBX on %s: %w", c.simAddr, err)
}

func (c *Cluster) startRedis(ctx context.Context) error {
	bin := c.spec.RedisServer
	if bin == "" {
		bin = "redis-server"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrNoRedis, bin, err)
	}
	port, err := freeport.Pick()
	if err != nil {
		return err
	}
	rdir := filepath.Join(c.dir, "redis")
	if err := os.Mkdir(rdir, 0o700); err != nil {
		return fmt.Errorf("redis directory: %w", err)
	}
	logf, err := os.Create(c.logPath("redis"))
	if err != nil {
		return fmt.Errorf("redis log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(path, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", rdir)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", path, err)
	}
	c.redis, c.redisDone = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(c.redisDone) }()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	c.redisURL = "redis://" + addr + "/0"
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if redisPing(addr) == nil {
			c.log.Info("redis started", "addr", addr)
			return nil
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("redis-server on %s did not answer PING within 10s (log %s)", addr, c.logPath("redis"))
}

// ErrNoRedis marks a missing redis-server executable.
var ErrNoRedis = errors.New("redis-server not available")

func redisPing(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// nodeAddrs picks a node's two loopback addresses: clients and metrics
// (internal/freeport says why not port 0).
func nodeAddrs() (listen, metrics string, err error) {
	if listen, err = freeport.Addr(); err != nil {
		return "", "", err
	}
	if metrics, err = freeport.Addr(); err != nil {
		return "", "", err
	}
	return listen, metrics, nil
}

func (c *Cluster) startNode(i int) error {
	listen, metrics, err := nodeAddrs()
	if err != nil {
		return err
	}
	id := fmt.Sprintf("bench-node-%d", i+1)
	nc := NodeConfig{
		NodeID: id, Listen: listen, MetricsListen: metrics,
		RedisURL: c.redisURL, AMIAddress: c.simAddr, AMIUsername: c.simCfg.Username, AMISecret: c.simCfg.Secret,
		JWTSecret: string(c.jwtSecret), LeaseTTL: c.spec.LeaseTTL, Pprof: c.spec.Pprof,
	}
	return c.launch(id, ConfigYAML(nc), nc.Listen, nc.MetricsListen)
}

// launch writes a node's configuration and starts it as `ctiws serve`.
func (c *Cluster) launch(id string, cfgYAML []byte, listen, metricsListen string) error {
	cfgPath := filepath.Join(c.dir, id+".yaml")
	if err := os.WriteFile(cfgPath, cfgYAML, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", cfgPath, err)
	}
	n, err := c.spawn(id, cfgPath, listen, metricsListen, os.O_TRUNC)
	if err != nil {
		return err
	}
	c.Nodes = append(c.Nodes, n)
	return nil
}

// spawn starts `ctiws serve -config cfgPath` as node id, its output in the
// node's log file, opened with os.O_TRUNC or os.O_APPEND.
func (c *Cluster) spawn(id, cfgPath, listen, metricsListen string, logMode int) (*Node, error) {
	logPath := c.logPath(id)
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|logMode, 0o644)
	if err != nil {
		return nil, fmt.Errorf("node log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(c.spec.Binary, "serve", "-config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s serve: %w", c.spec.Binary, err)
	}
	n := &Node{ID: id, URL: "http://" + listen, MetricsURL: "http://" + metricsListen, cmd: cmd, done: make(chan struct{}), logPath: logPath,
		cfgPath: cfgPath, listen: listen, metricsListen: metricsListen}
	go func() { n.waitErr = cmd.Wait(); close(n.done) }()
	c.log.Info("node started", "node", id, "pid", cmd.Process.Pid, "url", n.URL)
	return n, nil
}

// Restart stops node i (SIGTERM, SIGKILL after 10 s) and starts it again
// with the same configuration and addresses, its log appended to.
func (c *Cluster) Restart(i int) error {
	old := c.Nodes[i]
	if old.Alive() {
		_ = old.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-old.done:
		case <-time.After(10 * time.Second):
			_ = old.cmd.Process.Signal(syscall.SIGKILL)
			<-old.done
		}
	}
	n, err := c.spawn(old.ID, old.cfgPath, old.listen, old.metricsListen, os.O_APPEND)
	if err != nil {
		return err
	}
	c.Nodes[i] = n
	return nil
}

// waitReady waits until every node answers /readyz and the tenant's PBX
// snapshot has been loaded by its owner.
func (c *Cluster) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(c.spec.ReadyTimeout)
	for _, n := range c.Nodes {
		for {
			if !n.Alive() {
				return fmt.Errorf("node %s exited during start (%v): %s", n.ID, n.waitErr, tail(n.logPath, 5))
			}
			if _, err := fetch(ctx, c.hc, n.MetricsURL+"/readyz"); err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("node %s not ready within %v: %s", n.ID, c.spec.ReadyTimeout, tail(n.logPath, 5))
			}
			if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
				return err
			}
		}
	}
	for _, n := range c.Nodes {
		for {
			got, err := c.extensions(ctx, n)
			if err == nil && got >= c.spec.Users {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("node %s did not list the %d simulated extensions within %v (got %d, %v; log: %s)",
					n.ID, c.spec.Users, c.spec.ReadyTimeout, got, err, tail(n.logPath, 5))
			}
			if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
				return err
			}
		}
	}
	return nil
}

// extensions counts the extensions node n lists over REST (as user 0),
// which it has once the owner loaded the PBX and the node read the state.
func (c *Cluster) extensions(ctx context.Context, n *Node) (int, error) {
	tok, err := auth.SignJWT(UserName(0), TenantID, c.jwtSecret, time.Hour, time.Now())
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.URL+"/webrest/astproxy/extensions", nil)
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("GET extensions: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET extensions: HTTP %d", resp.StatusCode)
	}
	var m map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return 0, fmt.Errorf("GET extensions: %w", err)
	}
	return len(m), nil
}

// Owner returns the index of the live node whose ctiws_lease_owned for the
// bench tenant is 1, or -1.
func (c *Cluster) Owner(ctx context.Context) int {
	for i, node := range c.Nodes {
		if !node.Alive() {
			continue
		}
		body, err := fetch(ctx, c.hc, node.MetricsURL+"/metrics")
		if err != nil {
			continue
		}
		if v, ok := MetricValue(body, "ctiws_lease_owned", `tenant="`+TenantID+`"`); ok && v == 1 {
			return i
		}
	}
	return -1
}

// Metric sums a metric over the live nodes.
func (c *Cluster) Metric(ctx context.Context, name string, must ...string) float64 {
	var sum float64
	for _, node := range c.Nodes {
		if !node.Alive() {
			continue
		}
		if body, err := fetch(ctx, c.hc, node.MetricsURL+"/metrics"); err == nil {
			sum += SumMetric(body, name, must...)
		}
	}
	return sum
}

// NodeMetric reads a metric of node i (0 when it cannot be read).
func (c *Cluster) NodeMetric(ctx context.Context, i int, name string, must ...string) float64 {
	body, err := fetch(ctx, c.hc, c.Nodes[i].MetricsURL+"/metrics")
	if err != nil {
		return 0
	}
	return SumMetric(body, name, must...)
}

// Sample reads CPU and RSS of every live node (dead nodes: zero value).
func (c *Cluster) Sample() []ProcSample {
	out := make([]ProcSample, len(c.Nodes))
	for i, n := range c.Nodes {
		if !n.Alive() {
			continue
		}
		if s, err := ReadProc(n.Pid()); err == nil {
			out[i] = s
		}
	}
	return out
}

// Profile fetches a CPU profile of node i for d into file (needs Pprof).
func (c *Cluster) Profile(ctx context.Context, i int, d time.Duration, file string) error {
	hc := &http.Client{Timeout: d + 30*time.Second}
	body, err := fetch(ctx, hc, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", c.Nodes[i].MetricsURL, int(d.Seconds())))
	if err != nil {
		return fmt.Errorf("CPU profile of %s: %w", c.Nodes[i].ID, err)
	}
	if err := os.WriteFile(file, body, 0o644); err != nil {
		return fmt.Errorf("write profile: %w", err)
	}
	return nil
}

// HeapProfile fetches an in-use heap profile of node i into file.
func (c *Cluster) HeapProfile(ctx context.Context, i int, file string) error {
	body, err := fetch(ctx, c.hc, c.Nodes[i].MetricsURL+"/debug/pprof/heap")
	if err != nil {
		return fmt.Errorf("heap profile of %s: %w", c.Nodes[i].ID, err)
	}
	if err := os.WriteFile(file, body, 0o644); err != nil {
		return fmt.Errorf("write profile: %w", err)
	}
	return nil
}

// CollectGarbage runs a garbage collection in node i and makes it return
// freed pages to the OS (POST /debug/free-os-memory; needs Pprof).
func (c *Cluster) CollectGarbage(ctx context.Context, i int) error {
	if _, err := request(ctx, c.hc, http.MethodPost, c.Nodes[i].MetricsURL+"/debug/free-os-memory"); err != nil {
		return fmt.Errorf("garbage collection in %s: %w", c.Nodes[i].ID, err)
	}
	return nil
}

// Kill sends SIGKILL to node i and waits for it to exit.
func (c *Cluster) Kill(i int) error {
	n := c.Nodes[i]
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %s: %w", n.ID, err)
	}
	<-n.done
	return nil
}

// Stop terminates the nodes (SIGTERM, then SIGKILL after 5 s), Redis and
// the simulator, and removes the working directory unless Keep is set.
func (c *Cluster) Stop() {
	for _, n := range c.Nodes {
		if n.Alive() {
			_ = n.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, n := range c.Nodes {
		select {
		case <-n.done:
		case <-time.After(5 * time.Second):
			_ = n.cmd.Process.Signal(syscall.SIGKILL)
			<-n.done
		}
	}
	if c.redis != nil {
		_ = c.redis.Process.Signal(syscall.SIGKILL)
		<-c.redisDone
	}
	if c.sim != nil {
		_ = c.sim.Close()
	}
	if c.spec.Keep {
		c.log.Info("work directory kept", "dir", c.dir)
		return
	}
	_ = os.RemoveAll(c.dir)
}

// logPath is where the log of the cluster's process name (a node id,
// "redis") goes: spec.LogDir when set, else the working directory.
func (c *Cluster) logPath(name string) string {
	if c.spec.LogDir != "" {
		return filepath.Join(c.spec.LogDir, filepath.Base(c.dir)+"-"+name+".log")
	}
	return filepath.Join(c.dir, name+".log")
}

// tail returns the last n lines of a file, joined by " | ".
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

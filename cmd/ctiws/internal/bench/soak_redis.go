package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ctiws/ctiws/internal/freeport"
	"github.com/redis/go-redis/v9"
)

// soakMaster is the Sentinel master name of the soak's Redis.
const soakMaster = "ctiws"

// redisProc is one redis-server process of the soak (a data server or a
// sentinel) on a fixed loopback port, which it keeps across restarts.
type redisProc struct {
	name    string
	bin     string
	dir     string
	port    int
	args    []string // after the common ones
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
}

// newRedisProc prepares a redis-server named name in its own directory
// under parent, on a free port.
func newRedisProc(parent, bin, name, logPath string, args ...string) (*redisProc, error) {
	port, err := freeport.Pick()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(parent, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%s directory: %w", name, err)
	}
	return &redisProc{name: name, bin: bin, dir: dir, port: port, args: args, logPath: logPath}, nil
}

// Addr is the process's "127.0.0.1:port".
func (p *redisProc) Addr() string { return fmt.Sprintf("127.0.0.1:%d", p.port) }

// start spawns the process and waits until it answers PING.
func (p *redisProc) start(ctx context.Context) error {
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s log: %w", p.name, err)
	}
	defer logf.Close()
	var args []string
	if len(p.args) > 0 && p.args[0] == "--sentinel" {
		args = append(args, filepath.Join(p.dir, "sentinel.conf"))
	}
	args = append(args, "--port", strconv.Itoa(p.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", p.dir)
	cmd := exec.Command(p.bin, append(args, p.args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	done := p.done
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for redisPing(p.Addr()) != nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s on %s did not answer PING within 10s (log %s)", p.name, p.Addr(), p.logPath)
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// kill SIGKILLs the process and waits for it (no-op when not running).
func (p *redisProc) kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p.cmd = nil
}

// soakRedis is a Redis master, its replica and three sentinels; the
// master role moves between the two data servers with each failover.
type soakRedis struct {
	log       *slog.Logger
	data      [2]*redisProc
	sentinels []*redisProc
}

// startSoakRedis starts the master, a replica and three sentinels
// (quorum 2, down after 1 s) and waits until the sentinels see the replica.
func startSoakRedis(ctx context.Context, dir, bin string, logPath func(string) string, log *slog.Logger) (*soakRedis, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNoRedis, bin, err)
	}
	r := &soakRedis{log: log}
	if r.data[0], err = newRedisProc(dir, path, "redis-a", logPath("redis-a")); err != nil {
		return r, err
	}
	if err := r.data[0].start(ctx); err != nil {
		return r, err
	}
	if r.data[1], err = newRedisProc(dir, path, "redis-b", logPath("redis-b"), "--replicaof", "127.0.0.1", strconv.Itoa(r.data[0].port)); err != nil {
		return r, err
	}
	if err := r.data[1].start(ctx); err != nil {
		return r, err
	}
	for i := range 3 {
		name := fmt.Sprintf("sentinel-%d", i+1)
		s, err := newRedisProc(dir, path, name, logPath(name), "--sentinel")
		if err != nil {
			return r, err
		}
		conf := fmt.Sprintf("sentinel monitor %[1]s 127.0.0.1 %[2]d 2\nsentinel down-after-milliseconds %[1]s 1000\n"+
			"sentinel failover-timeout %[1]s 3000\nsentinel parallel-syncs %[1]s 1\n", soakMaster, r.data[0].port)
		if err := os.WriteFile(filepath.Join(s.dir, "sentinel.conf"), []byte(conf), 0o600); err != nil {
			return r, fmt.Errorf("write %s's sentinel.conf: %w", name, err)
		}
		if err := s.start(ctx); err != nil {
			return r, err
		}
		r.sentinels = append(r.sentinels, s)
	}
	return r, nil
}

// master asks every sentinel for the master's address and returns the one
// a majority names ("" when there is none): a sentinel that has not yet
// heard of a failover still names the old master.
func (r *soakRedis) master(ctx context.Context) string {
	votes := map[string]int{}
	for _, s := range r.sentinels {
		if s.cmd == nil {
			continue
		}
		sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr(), DialTimeout: time.Second, ReadTimeout: time.Second})
		addr, err := sc.GetMasterAddrByName(ctx, soakMaster).Result()
		_ = sc.Close()
		if err == nil && len(addr) == 2 {
			votes[net.JoinHostPort(addr[0], addr[1])]++
		}
	}
	for a, n := range votes {
		if n > len(r.sentinels)/2 {
			return a
		}
	}
	return ""
}

// dataProc returns the data server listening on addr, or nil.
func (r *soakRedis) dataProc(addr string) *redisProc {
	for _, p := range r.data {
		if p.Addr() == addr {
			return p
		}
	}
	return nil
}

// failover SIGKILLs the master, waits until the sentinels promote the
// replica (at most 30 s), hands the new master to switched (the VIP moves
// there), then starts the old master again: the sentinels turn it into
// the new master's replica. It comes back empty (no persistence) and a
// master until they do: anything still sent to its address meanwhile
// would find no lease and no state (Redis's documentation warns against
// restarting a master without persistence for this reason).
func (r *soakRedis) failover(ctx context.Context, switched func(master string)) error {
	old := r.master(ctx)
	p := r.dataProc(old)
	if p == nil {
		return fmt.Errorf("redis failover: the sentinels name no known master (%q)", old)
	}
	p.kill()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := r.master(ctx); m != "" && m != old {
			r.log.Info("redis master failed over", "from", old, "to", m)
			switched(m)
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis failover: no replica promoted 30 s after the master %s was killed", old)
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	// The old master comes back empty; the sentinels make it a replica.
	if err := p.start(ctx); err != nil {
		return err
	}
	rc := redis.NewClient(&redis.Options{Addr: p.Addr(), DialTimeout: time.Second, ReadTimeout: time.Second})
	defer rc.Close()
	deadline = time.Now().Add(30 * time.Second)
	for {
		info, err := rc.Info(ctx, "replication").Result()
		if err == nil && strings.Contains(info, "role:slave") && strings.Contains(info, "master_link_status:up") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis failover: the old master %s is no synchronised replica 30 s after its restart", old)
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// stop kills every process.
func (r *soakRedis) stop() {
	for _, s := range r.sentinels {
		s.kill()
	}
	for _, p := range r.data {
		if p != nil {
			p.kill()
		}
	}
}

// masterVIP is the soak's stand-in for a virtual IP (or an HAProxy with a
// Sentinel check) in front of the Redis master: it forwards each
// connection to the master the sentinels name at accept time and closes
// every forwarded connection when they name another. The nodes reach it
// each through its own fault proxy: the address a Sentinel hands out is
// the same for every node, so a fault on it could not hit one node only.
type masterVIP struct {
	ln    net.Listener
	redis *soakRedis
	log   *slog.Logger
	mu    sync.Mutex
	addr  string
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// startMasterVIP listens on a free loopback port and follows the master
// (polled every 200 ms) until ctx ends or close.
func startMasterVIP(ctx context.Context, r *soakRedis, log *slog.Logger) (*masterVIP, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("master VIP: %w", err)
	}
	v := &masterVIP{ln: ln, redis: r, log: log, addr: r.master(ctx), conns: map[net.Conn]struct{}{}}
	if v.addr == "" {
		_ = ln.Close()
		return nil, fmt.Errorf("master VIP: the sentinels name no master")
	}
	v.wg.Go(v.accept)
	v.wg.Go(func() { v.follow(ctx) })
	return v, nil
}

// Addr is where the VIP listens.
func (v *masterVIP) Addr() string { return v.ln.Addr().String() }

func (v *masterVIP) follow(ctx context.Context) {
	for sleepCtx(ctx, 200*time.Millisecond) == nil {
		if m := v.redis.master(ctx); m != "" {
			v.switchTo(m)
		}
	}
}

// switchTo makes m the target and closes every forwarded connection (no-op
// when m is the target already).
func (v *masterVIP) switchTo(m string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if m == v.addr {
		return
	}
	v.log.Info("master VIP follows the new master", "from", v.addr, "to", m, "closed", len(v.conns))
	v.addr = m
	for c := range v.conns {
		_ = c.Close()
	}
}

func (v *masterVIP) accept() {
	for {
		c, err := v.ln.Accept()
		if err != nil {
			return
		}
		v.wg.Go(func() { v.forward(c) })
	}
}

func (v *masterVIP) forward(c net.Conn) {
	v.mu.Lock()
	target := v.addr
	v.mu.Unlock()
	s, err := net.DialTimeout("tcp", target, 2*time.Second)
	if err != nil {
		_ = c.Close()
		return
	}
	v.mu.Lock()
	v.conns[c], v.conns[s] = struct{}{}, struct{}{}
	v.mu.Unlock()
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		_ = dst.Close()
		_ = src.Close()
	}
	wg.Go(func() { pipe(s, c) })
	wg.Go(func() { pipe(c, s) })
	wg.Wait()
	v.mu.Lock()
	delete(v.conns, c)
	delete(v.conns, s)
	v.mu.Unlock()
}

// close stops listening and forwarding; the follower ends with its ctx.
func (v *masterVIP) close() {
	_ = v.ln.Close()
	v.mu.Lock()
	for c := range v.conns {
		_ = c.Close()
	}
	v.mu.Unlock()
}

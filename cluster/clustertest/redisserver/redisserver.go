// Package redisserver starts a throwaway redis-server for tests: loopback
// only, a free port, no persistence, its own temporary directory.
package redisserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/internal/freeport"
)

// Server is a running redis-server owned by one test.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	// busPort is a cluster node's cluster bus port (0: not a cluster node).
	busPort int
	// args are extra redis-server arguments (e.g. --replicaof).
	args []string
	// conf is a configuration file to start from (a sentinel's).
	conf string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts a redis-server on a free loopback port and stops it when the
// test ends. It fails the test when redis-server is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartArgs(t)
}

// StartArgs is Start with extra redis-server arguments.
func StartArgs(t testing.TB, args ...string) *Server {
	t.Helper()
	s := newServer(t)
	s.args = args
	s.startNew()
	return s
}

// startNew starts a new server and stops it when the test ends. A free
// port can be taken by someone else before redis-server binds it (another
// test's outgoing connection gets an ephemeral port from the same range):
// then it tries again on new ports, up to five times.
func (s *Server) startNew() {
	s.t.Helper()
	for attempt := 1; ; attempt++ {
		err := s.start()
		if err == nil {
			break
		}
		if attempt == 5 || !errors.Is(err, errAddrInUse) {
			s.t.Fatal(err)
		}
		s.t.Logf("redis-server: %v; new ports", err)
		s.port = freePort(s.t)
		if s.busPort != 0 {
			s.busPort = freePort(s.t)
		}
	}
	s.t.Cleanup(s.Stop)
}

// errAddrInUse: redis-server could not bind a port it was given.
var errAddrInUse = errors.New("address already in use")

// StartReplica starts a replica of master (asynchronous replication, as
// in production).
func StartReplica(t testing.TB, master *Server) *Server {
	t.Helper()
	return StartArgs(t, "--replicaof", "127.0.0.1", strconv.Itoa(master.port))
}

// StartSentinel starts a Redis Sentinel (redis-server --sentinel) that
// monitors master under masterName with the given quorum; it declares a
// master down after downAfter without answers. extra are more
// sentinel.conf lines (e.g. "requirepass x", "user …").
func StartSentinel(t testing.TB, masterName string, master *Server, quorum int, downAfter time.Duration, extra ...string) *Server {
	t.Helper()
	s := newServer(t)
	s.conf = filepath.Join(s.dir, "sentinel.conf")
	conf := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d %d\n"+
		"sentinel down-after-milliseconds %s %d\n"+
		"sentinel failover-timeout %s %d\n"+
		"sentinel parallel-syncs %s 1\n",
		masterName, master.port, quorum,
		masterName, downAfter.Milliseconds(),
		masterName, (3 * downAfter).Milliseconds(),
		masterName)
	for _, l := range extra {
		conf += l + "\n"
	}
	if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
		t.Fatalf("write sentinel.conf: %v", err)
	}
	s.args = []string{"--sentinel"}
	s.startNew()
	return s
}

func newServer(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not installed: run `make test` (it installs it) or apt-get install redis-server (%v)", err)
	}
	return &Server{t: t, bin: bin, dir: t.TempDir(), port: freePort(t)}
}

// URL returns the redis:// URL of the server.
func (s *Server) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

// Addr returns host:port.
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// Stop kills the server (SIGKILL: no shutdown, no last replication) and waits for it to exit. It is safe to call twice.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart stops the server (losing its data: no persistence) and starts it
// again on the same port after down has passed.
func (s *Server) Restart(down time.Duration) {
	s.t.Helper()
	s.Stop()
	time.Sleep(down)
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

// Do sends one inline command (e.g. "CLIENT KILL TYPE pubsub") and returns
// the first reply line.
func (s *Server) Do(command string) (string, error) {
	c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintf(c, "%s\r\n", command); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	port := strconv.Itoa(s.port)
	logFile := filepath.Join(s.dir, "redis.log")
	var logFrom int64 // this start's lines: an earlier start (a retry, Restart) wrote the rest
	if fi, err := os.Stat(logFile); err == nil {
		logFrom = fi.Size()
	}
	var args []string
	if s.conf != "" {
		args = append(args, s.conf)
	}
	args = append(args,
		"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--dir", s.dir,
		"--pidfile", filepath.Join(s.dir, "redis.pid"),
		"--logfile", logFile)
	if s.busPort != 0 {
		args = append(args, "--cluster-port", strconv.Itoa(s.busPort))
	}
	cmd := exec.Command(s.bin, append(args, s.args...)...)
	cmd.Dir = s.dir
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server on port %s: %w", port, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if reply, err := s.pingLocked(); err == nil && reply == "+PONG" {
			return nil
		}
		select {
		case <-done:
			log, _ := os.ReadFile(logFile)
			log = log[min(logFrom, int64(len(log))):]
			s.cmd = nil
			if bytes.Contains(log, []byte("Address already in use")) {
				return fmt.Errorf("redis-server on port %s exited at start: %w: %s", port, errAddrInUse, log)
			}
			return fmt.Errorf("redis-server on port %s exited at start: %s", port, log)
		case <-ctx.Done():
			return fmt.Errorf("redis-server on port %s did not answer PING within 10s", port)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *Server) pingLocked() (string, error) {
	c, err := net.DialTimeout("tcp", s.Addr(), 200*time.Millisecond)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// freePort returns a free loopback port (internal/freeport says why not
// port 0).
func freePort(t testing.TB) int {
	t.Helper()
	p, err := freeport.Pick()
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	return p
}

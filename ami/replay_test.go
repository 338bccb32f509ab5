package ami

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/ami/sim"
	"github.com/ctiws/ctiws/directory"
)

// replay is the simulator (ami/sim) playing a transcript
// (testdata/transcripts/*.ami, format in ami/sim's Transcript): one part
// per AMI connection, a "#drop" line ending a part. Every part, the last
// included, ends with its connection closed once its last step is written,
// so a client reads the whole transcript before it sees the connection go.
// Connections after the last part are accepted and never answered, like a
// PBX that is not back yet.
type replay struct {
	srv   *sim.Server
	ln    *holdListener
	parts int
}

// newReplay starts the simulator on a loopback port with the transcript
// at path; logins must use username "u" and secret "s".
func newReplay(t testing.TB, path string) *replay {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(raw), "\r\n", "\n")
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	if !strings.HasSuffix(text, "\n#drop\n") {
		text += "#drop\n"
	}
	parts := sim.SplitConnections(text)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hl := &holdListener{Listener: ln, left: len(parts)}
	var w io.Writer = io.Discard
	if os.Getenv("REPLAY_DEBUG") != "" {
		w = os.Stderr
	}
	srv := sim.New(sim.Config{Username: "u", Secret: "s", Transcripts: parts}, slog.New(slog.NewTextHandler(w, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		if err := srv.Serve(ctx, hl); err != nil && ctx.Err() == nil {
			t.Errorf("simulator: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = srv.Close()
		hl.closeHeld()
	})
	return &replay{srv: srv, ln: hl, parts: len(parts)}
}

// runner returns a Runner for the simulator with the tests' settings (no
// keepalive or reconciliation within a test, the model's clock at
// fixedNow).
func (r *replay) runner(dir *directory.Directory, objs *Objects, hooks Hooks) *Runner {
	rn := NewRunner(Config{Address: r.addr(), Username: "u", Secret: "s", Tenant: "t1",
		PingInterval: time.Minute, ReconcileInterval: -1}, dir, objs, nil, hooks)
	rn.model.now = fixedNow
	return rn
}

// addr is the simulator's host:port.
func (r *replay) addr() string { return r.ln.Addr().String() }

// played reports whether every part was played to its end.
func (r *replay) played() bool { return r.srv.Stats().TranscriptsPlayed >= r.parts }

// unexpected returns the actions no transcript step expected.
func (r *replay) unexpected() []string { return r.srv.Stats().UnexpectedActions }

// holdListener hands the first left connections to the simulator and holds
// the rest open without a word until the test ends.
type holdListener struct {
	net.Listener
	mu   sync.Mutex
	left int
	held []net.Conn
}

func (l *holdListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if l.left > 0 {
			l.left--
			l.mu.Unlock()
			return c, nil
		}
		l.held = append(l.held, c)
		l.mu.Unlock()
	}
}

func (l *holdListener) closeHeld() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.held {
		_ = c.Close()
	}
	l.held = nil
}

// waitFor polls cond every 5 ms until it holds or ctx ends.
func waitFor(ctx context.Context, cond func() bool) bool {
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(5 * time.Millisecond):
		}
	}
	return true
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/internal/freeport"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// freeAddr is a free loopback address for a node this test starts
// (internal/freeport says why not port 0).
func freeAddr(t testing.TB) string {
	t.Helper()
	a, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// serveInProcess writes cfg into a configuration file and runs `ctiws serve`
// on it in this process; stop ends it and fails the test when it does not
// stop within 5 s.
func serveInProcess(tb testing.TB, ctx context.Context, cfg string) (stop func()) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cmdServe(ctx, []string{"-config", path}, io.Discard) }()
	return func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			tb.Error("serve did not stop")
		}
	}
}

// demoConfig writes a config using the demo tenant files on free ports.
func demoConfig(t testing.TB, extra string) (path, listen, metrics string) {
	t.Helper()
	dir := t.TempDir()
	demo, _ := filepath.Abs("demo")
	listen, metrics = freeAddr(t), freeAddr(t)
	cfg := fmt.Sprintf(`listen: %q
metrics_listen: %q
drain_timeout: 2s
%s
tenants:
  - id: demo
    ami: {address: sim, sim_calls_per_second: 5}
    auth: {htpasswd_file: %s/users.htpasswd, jwt_secret: "demo-test-jwt-secret"}
    users_file: %s/users.json
    profiles_file: %s/profiles.json
    objects_file: %s/objects.json
`, listen, metrics, extra, demo, demo, demo, demo)
	path = filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, listen, metrics
}

func TestUsageErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(bad, []byte("listen: [oops\n"), 0o600)
	unknown := filepath.Join(dir, "unknown.yaml")
	_ = os.WriteFile(unknown, []byte("nope: 1\n"), 0o600)
	shortJWT := filepath.Join(dir, "short.yaml")
	_ = os.WriteFile(shortJWT, []byte("tenants:\n  - id: a\n    ami: {address: sim}\n    auth: {jwt_secret: \"Qx\"}\n    users_file: u.json\n    profiles_file: p.json\n"), 0o600)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{}, "usage"},
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"serve"}, "-config"},
		{[]string{"serve", "-config", filepath.Join(dir, "missing.yaml")}, "missing.yaml"},
		{[]string{"serve", "-config", bad}, "bad.yaml"},
		{[]string{"serve", "-config", unknown}, "nope"},
		{[]string{"serve", "-config", shortJWT}, "auth.jwt_secret: at least 16"},
		{[]string{"serve", "-bogus"}, "bogus"},
		{[]string{"watch"}, "-user"},
		{[]string{"token", "-config", unknown}, "nope"},
		{[]string{"bench", "-floor-writer", "-rate", "10,20"}, "one -rate"},
		{[]string{"bench", "-floor-writer", "-rate", "fast"}, "one -rate"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		if code := run(tt.args, &out, &errb); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", tt.args, code, exitUsage, errb.String())
		}
		if !strings.Contains(errb.String(), tt.want) {
			t.Errorf("%v: stderr %q does not mention %q", tt.args, errb.String(), tt.want)
		}
		if strings.Contains(errb.String(), `"Qx"`) || strings.Contains(errb.String(), " Qx") {
			t.Errorf("%v: stderr %q shows the secret", tt.args, errb.String())
		}
	}
	var out bytes.Buffer
	if code := run([]string{"version"}, &out, io.Discard); code != 0 || !strings.HasPrefix(out.String(), "ctiws ") {
		t.Errorf("version: %d %q", code, out.String())
	}
}

// TestServeMetricsHealthAndDrain runs a node in-process: /healthz, /readyz,
// metrics that pass promlint, and a clean stop.
func TestServeMetricsHealthAndDrain(t *testing.T) {
	path, listen, metrics := demoConfig(t, "log_level: debug")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() {
		done <- cmdServe(ctx, []string{"-config", path}, &syncWriter{mu: make(chan struct{}, 1), w: &logs})
	}()
	get := func(url string) (int, string) {
		r, err := http.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _ := get("http://" + metrics + "/readyz"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node never became ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, _ := get("http://" + metrics + "/healthz"); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	// Let the owner publish something, then scrape.
	deadline = time.Now().Add(10 * time.Second)
	var body string
	for {
		_, body = get("http://" + metrics + "/metrics")
		if strings.Contains(body, `ctiws_lease_owned{tenant="demo"} 1`) && strings.Contains(body, "ctiws_owner_events_published_total") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ownership in metrics:\n%s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "ctiws_") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}
	for _, m := range []string{"ctiws_ami_connected{tenant=\"demo\"} 1", "ctiws_build_info", "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(body, m) {
			t.Errorf("metrics lack %s", m)
		}
	}
	if code, _ := get("http://" + listen + "/webrest/nothing"); code != 404 {
		t.Errorf("unknown REST path: %d", code)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Errorf("no clean stop in logs:\n%s", logs.String())
	}
	// Every line is one JSON document a log store accepts: no key twice,
	// durations as strings (the AMI snapshot line carries both).
	if !strings.Contains(logs.String(), `"msg":"ami: snapshot applied"`) {
		t.Errorf("no AMI snapshot line in logs:\n%s", logs.String())
	}
	checkJSONLogs(t, logs.String(), "took", "in", "drain_timeout")
}

// The debug endpoints exist only with pprof on, and freeing memory takes a
// POST only.
func TestMetricsMuxFreeOSMemory(t *testing.T) {
	tests := []struct {
		pprof  bool
		method string
		want   int
	}{
		{true, http.MethodPost, http.StatusOK},
		{true, http.MethodGet, http.StatusMethodNotAllowed},
		{false, http.MethodPost, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("pprof=%v %s", tt.pprof, tt.method), func(t *testing.T) {
			mux := metricsMux(prometheus.NewRegistry(), cluster.Backend{}, nil, tt.pprof, true)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(tt.method, "/debug/free-os-memory", nil))
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d", rec.Code, tt.want)
			}
		})
	}
}

type syncWriter struct {
	mu chan struct{}
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.w.Write(p)
}

// -h, --help and help list every subcommand on stdout and exit 0; help
// COMMAND shows the command's flags.
func TestHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"-h"}, []string{"serve", "watch", "amisim", "bench", "token", "tokens", "version"}},
		{[]string{"--help"}, []string{"serve", "watch", "amisim", "bench", "token", "tokens", "version"}},
		{[]string{"help"}, []string{"serve", "watch", "amisim", "bench", "token", "tokens", "version"}},
		{[]string{"help", "serve"}, []string{"-config"}},
		{[]string{"help", "watch"}, []string{"-url", "-password-file"}},
		{[]string{"help", "tokens"}, []string{"list|revoke", "-hash", "-all"}},
		{[]string{"help", "bench"}, []string{"-rate"}},
		{[]string{"help", "amisim"}, []string{"-listen"}},
		{[]string{"help", "token"}, []string{"-ttl"}},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		if code := run(tt.args, &out, &errb); code != 0 {
			t.Errorf("%v: exit %d (%s)", tt.args, code, errb.String())
		}
		for _, w := range tt.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%v: stdout lacks %q:\n%s", tt.args, w, out.String())
			}
		}
	}
	var errb bytes.Buffer
	if code := run([]string{"help", "nope"}, io.Discard, &errb); code != exitUsage || !strings.Contains(errb.String(), "nope") {
		t.Errorf("help nope: exit %d, %q", code, errb.String())
	}
}

// A misspelled CTIWS_ variable gets one warning naming the field it
// probably meant; CTIWS_WATCH_PASSWORD (watch's) gets none.
func TestTokenWarnsUnknownEnv(t *testing.T) {
	path, _, _ := demoConfig(t, "")
	t.Setenv("CTIWS_DRAIN_TIMOUT", "5s")
	t.Setenv(watchPasswordEnv, "x")
	var out, errb bytes.Buffer
	if code := run([]string{"token", "-config", path, "-user", "alice"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if n := strings.Count(errb.String(), `"variable":"CTIWS_DRAIN_TIMOUT","did_you_mean":"CTIWS_DRAIN_TIMEOUT"`); n != 1 {
		t.Errorf("want one warning about CTIWS_DRAIN_TIMOUT, got %d:\n%s", n, errb.String())
	}
	if strings.Contains(errb.String(), watchPasswordEnv) {
		t.Errorf("warned about %s:\n%s", watchPasswordEnv, errb.String())
	}
}

// bench keeps every log line in files and prints only tables and the
// verdict: here the "node" (/bin/false) dies at once, so the step fails,
// the sim and the bench have logged, and the node's log file exists.
func TestBenchLogsInFiles(t *testing.T) {
	if _, err := os.Stat("/bin/false"); err != nil {
		t.Skip("no /bin/false")
	}
	dir := filepath.Join(t.TempDir(), "logs")
	var out, errb bytes.Buffer
	code := run([]string{"bench", "-scenario", "idle", "-clients", "3", "-ctiws", "/bin/false", "-log-dir", dir}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for name, s := range map[string]string{"stdout": out.String(), "stderr": errb.String()} {
		for _, line := range strings.Split(s, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "{") {
				t.Errorf("%s has a JSON log line: %s", name, line)
			}
		}
	}
	if !strings.Contains(errb.String(), dir) {
		t.Errorf("stderr does not name the log dir %s: %s", dir, errb.String())
	}
	if !strings.Contains(out.String(), "ERROR:") || !strings.Contains(out.String(), "verdict: 0 of 1 targets met") {
		t.Errorf("stdout lacks the failed step or the verdict:\n%s", out.String())
	}
	benchLog, err := os.ReadFile(filepath.Join(dir, "bench.log"))
	if err != nil || !strings.Contains(string(benchLog), `"component":"amisim"`) {
		t.Errorf("bench.log lacks the simulator's lines (%v):\n%s", err, benchLog)
	}
	nodeLogs, _ := filepath.Glob(filepath.Join(dir, "ctiws-bench-*-bench-node-1.log"))
	if len(nodeLogs) != 1 {
		t.Errorf("node log files: %v", nodeLogs)
	}
}

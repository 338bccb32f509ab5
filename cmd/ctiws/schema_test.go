package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster/clustertest/redisserver"
	redisbackend "github.com/ctiws/ctiws/cluster/redisbackend"
	"github.com/redis/go-redis/v9"
)

// TestRedisSchemaGuard: a node refuses to run on a Redis that holds data of
// a newer schema, with exit code 3 and a log line saying why, whether Redis
// answers at start or only later (the node then starts unready and stops
// once Redis answers); on a Redis without a version it records its own and
// runs.
func TestRedisSchemaGuard(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	newer := strconv.Itoa(redisbackend.SchemaVersion + 1)
	tests := []struct {
		name   string
		stored string        // "" = no version key
		pause  time.Duration // CLIENT PAUSE at start: Redis answers only later
		exit   int           // -1: keeps running
	}{
		{"newer schema at start", newer, 0, exitSchema},
		{"newer schema once Redis answers", newer, 5 * time.Second, exitSchema},
		{"no version yet", "", 0, -1},
	}
	demo, _ := filepath.Abs("demo")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := redisserver.Start(t)
			rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
			t.Cleanup(func() { _ = rdb.Close() })
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if tt.stored != "" {
				if err := rdb.Set(ctx, "ctiws:schema", tt.stored, 0).Err(); err != nil {
					t.Fatal(err)
				}
			}
			if tt.pause > 0 {
				if err := rdb.Do(ctx, "CLIENT", "PAUSE", tt.pause.Milliseconds(), "ALL").Err(); err != nil {
					t.Fatal(err)
				}
			}
			listen, metrics := freeAddr(t), freeAddr(t)
			cfg := fmt.Sprintf("listen: %q\nmetrics_listen: %q\nredis_url: %q\ntenants:\n  - id: demo\n    ami: {address: sim, sim_calls_per_second: 0}\n    auth: {enabled: false}\n    users_file: %s/users.json\n    profiles_file: %s/profiles.json\n",
				listen, metrics, r.URL(), demo, demo)
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			n := &nodeProc{t: t, name: "schema", listen: listen, metrics: metrics}
			startNode(t, n, path)
			c := &testCluster{t: t}
			if tt.exit < 0 {
				c.eventually("ready", 15*time.Second, n.ready)
				if v, err := rdb.Get(ctx, "ctiws:schema").Result(); err != nil || v != strconv.Itoa(redisbackend.SchemaVersion) {
					t.Errorf("stored schema version %q (%v), want %d", v, err, redisbackend.SchemaVersion)
				}
				return
			}
			if tt.pause > 0 {
				c.eventually("metrics listener up while Redis is paused", 10*time.Second, func() bool { return n.metric("go_goroutines") > 0 })
				if !strings.Contains(n.log(), "not checked yet") {
					t.Errorf("the log does not say the check is pending:\n%s", tail(n.log(), 2000))
				}
			}
			select {
			case <-n.done:
			case <-time.After(tt.pause + 20*time.Second):
				t.Fatal("the node kept running on a newer schema")
			}
			if got := n.cmd.ProcessState.ExitCode(); got != tt.exit {
				t.Errorf("exit code %d, want %d", got, tt.exit)
			}
			if !strings.Contains(n.log(), "newer than this build's schema") {
				t.Errorf("the log does not say why:\n%s", tail(n.log(), 2000))
			}
			if v, _ := rdb.Get(ctx, "ctiws:schema").Result(); v != tt.stored {
				t.Errorf("the node overwrote the stored version: %q", v)
			}
		})
	}
}

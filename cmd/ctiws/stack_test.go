package main

// The whole stack on one node (issue 4): the simulated PBX replays an AMI
// transcript over TCP, the AMI model builds the PBX, the owner publishes
// through the bus, and four users with different profiles receive exactly
// their events with exactly their payloads (golden files).

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/ami/sim"
	"github.com/ctiws/ctiws/ws/auth"
	"github.com/ctiws/ctiws/ws/client"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// stackUsers: alice admin (clear), bob operator (privacy, queues, parkings),
// carol supervisor (privacy, queue admin, trunks), dave basic (privacy).
var stackUsers = []string{"alice", "bob", "carol", "dave"}

type recorded struct {
	Event string            `json:"event"`
	Args  []json.RawMessage `json:"args"`
}

// normalise drops the fields that depend on the wall clock.
func normalise(raw json.RawMessage) json.RawMessage {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return raw
	}
	var walk func(any)
	walk = func(x any) {
		switch t := x.(type) {
		case map[string]any:
			for _, k := range []string{"duration", "waiting", "waitingTime", "lastPausedInTimestamp", "lastPausedOutTimestamp", "date"} {
				delete(t, k)
			}
			if pc, ok := t["parkedCaller"].(map[string]any); ok {
				delete(pc, "timeout")
			}
			for _, y := range t {
				walk(y)
			}
		case []any:
			for _, y := range t {
				walk(y)
			}
		}
	}
	walk(v)
	b, _ := json.Marshal(v)
	return b
}

func TestStackGolden(t *testing.T) {
	files, err := filepath.Glob("../../ami/testdata/transcripts/*.ami")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".ami")
		t.Run(name, func(t *testing.T) {
			got := runStack(t, f)
			golden := filepath.Join("testdata", "golden", name+".json")
			b, _ := json.MarshalIndent(got, "", " ")
			b = append(b, '\n')
			if *update {
				if err := os.WriteFile(golden, b, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if string(want) != string(b) {
				t.Errorf("events differ from %s (run `go test ./cmd/ctiws -run TestStackGolden -update` and review the diff); got:\n%s", golden, b)
			}
		})
	}
}

// stackSetup is the tenant a transcript is replayed for: the folder of its
// users.json and profiles.json, its objects file, the users logged in.
type stackSetup struct {
	dir, objects string
	users        []string
	// done, when set, says the users got all they should: once the
	// transcript is played, the replay ends when it holds after 1 s without
	// events (a flow ends as idle as it began, so the views match before
	// the flow's events too), or after 5 s without events (a loaded
	// machine may deliver the last events later than a short quiet time).
	done func(got map[string][]recorded) bool
}

// handWritten is the set-up of the hand-written transcripts.
func handWritten() stackSetup {
	return stackSetup{dir: filepath.Join("testdata", "stack"), objects: filepath.Join("..", "..", "ami", "testdata", "objects.json"), users: stackUsers}
}

func runStack(t *testing.T, transcript string) map[string][]recorded {
	t.Helper()
	return runStackWith(t, transcript, handWritten())
}

// runStackWith replays transcript to one node serving setup's tenant and
// returns what each of its users received.
func runStackWith(t *testing.T, transcript string, setup stackSetup) map[string][]recorded {
	t.Helper()
	raw, err := os.ReadFile(transcript)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stack, _ := filepath.Abs(setup.dir)
	objects, _ := filepath.Abs(setup.objects)
	listen, metrics := freeAddr(t), freeAddr(t)
	cfg := fmt.Sprintf(`listen: %q
metrics_listen: %q
drain_timeout: 1s
deliver_every_state: true
tenants:
  - id: t1
    ami: {address: %q, username: admin, secret: s3cret}
    privacy_numbers: "xxx"
    auth: {jwt_secret: "stack-test-jwt-secret"}
    users_file: %s/users.json
    profiles_file: %s/profiles.json
    objects_file: %s
`, listen, metrics, ln.Addr().String(), stack, stack, objects)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer serveInProcess(t, ctx, cfg)()

	var mu sync.Mutex
	got := map[string][]recorded{}
	last := time.Now()
	deadline := time.Now().Add(10 * time.Second)
	for _, u := range setup.users {
		token, _ := auth.SignJWT(u, "t1", []byte("stack-test-jwt-secret"), time.Hour, time.Now())
		var c *client.Conn
		for {
			c, err = client.Dial(ctx, client.Options{URL: "http://" + listen, User: u, Token: token, PingEvery: -1,
				OnEvent: func(name string, args []json.RawMessage, _ time.Time) {
					mu.Lock()
					defer mu.Unlock()
					for i := range args {
						args[i] = normalise(args[i])
					}
					got[u] = append(got[u], recorded{name, args})
					last = time.Now()
				}})
			if err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("login %s: %v", u, err)
		}
		defer c.Close()
	}

	// Only now does the PBX answer: every event reaches logged-in sockets.
	parts := sim.SplitConnections(string(raw))
	s := sim.New(sim.Config{Username: "admin", Secret: "s3cret", Transcripts: parts}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	go func() { _ = s.Serve(ctx, ln) }()
	defer s.Close()

	quietSince := func() time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return time.Since(last)
	}
	snapshot := func() map[string][]recorded {
		mu.Lock()
		defer mu.Unlock()
		out := map[string][]recorded{}
		for _, u := range setup.users {
			out[u] = append([]recorded{}, got[u]...)
		}
		return out
	}
	quiet := 1500 * time.Millisecond
	if setup.done != nil {
		quiet = 5 * time.Second
	}
	start := time.Now()
	for {
		mu.Lock()
		n := 0
		for _, evs := range got {
			n += len(evs)
		}
		mu.Unlock()
		// Settled: the whole transcript played (it may pause longer than
		// the quiet time), then what the users should get came, or
		// nothing new for a while.
		if n > 0 && s.Stats().TranscriptsPlayed >= len(parts) {
			if setup.done != nil && quietSince() > time.Second && setup.done(snapshot()) || quietSince() > quiet {
				break
			}
		}
		if time.Since(start) > 60*time.Second {
			t.Fatal("events did not settle")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return snapshot()
}

// TestStackPrivacyInvariants checks properties of the golden data that must
// hold whatever the scenario: who may see what.
func TestStackPrivacyInvariants(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if len(files) == 0 {
		t.Skip("no golden files yet")
	}
	owns := map[string][]string{"alice": {"201"}, "bob": {"202"}, "carol": {"203"}, "dave": {"204"}}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		var got map[string][]recorded
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for user, evs := range got {
			names := map[string]int{}
			for _, e := range evs {
				names[e.Event]++
				switch e.Event {
				case "trunkUpdate":
					if user == "bob" || user == "dave" {
						t.Errorf("%s: %s got trunkUpdate without the trunks permission", f, user)
					}
				case "queueUpdate", "queueMemberUpdate":
					if user == "dave" {
						t.Errorf("%s: dave got %s", f, e.Event)
					}
				case "parkingUpdate":
					if user == "carol" || user == "dave" {
						t.Errorf("%s: %s got parkingUpdate without the parkings permission", f, user)
					}
				case "extenRinging", "extenHangup", "extenConnected":
					var v map[string]any
					_ = json.Unmarshal(e.Args[0], &v)
					ext := fmt.Sprint(v["numCalled"], v["channelExten"], v["extenConnected"])
					mine := false
					for _, o := range owns[user] {
						if strings.Contains(ext, o) {
							mine = true
						}
					}
					if !mine {
						t.Errorf("%s: %s got %s for %s", f, user, e.Event, ext)
					}
				case "extenUpdate":
					var x struct {
						Exten         string
						Conversations map[string]struct{ CounterpartNum, CounterpartName string }
					}
					_ = json.Unmarshal(e.Args[0], &x)
					if user == "alice" || x.Exten == owns[user][0] {
						continue
					}
					for _, c := range x.Conversations {
						// dave and bob see every number in others' conversations
						// masked (carol sees queue calls in clear); placeholders
						// such as <unknown> carry no number and stay as they are.
						if user != "carol" && strings.ContainsAny(c.CounterpartNum, "0123456789") && !strings.HasSuffix(c.CounterpartNum, "xxx") {
							t.Errorf("%s: %s sees %s unmasked on %s", f, user, c.CounterpartNum, x.Exten)
						}
					}
				}
			}
			keys := make([]string, 0, len(names))
			for k := range names {
				keys = append(keys, k)
			}
			sort.Strings(keys)
		}
	}
}

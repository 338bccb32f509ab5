package ami

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/pbx"
)

// snapshotPart returns the snapshot section of a transcript.
func snapshotPart(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, _, ok := strings.Cut(string(b), "# --- end of snapshot ---")
	if !ok {
		t.Fatal("no snapshot section")
	}
	return s
}

func TestDoPresenceAndQueueLogin(t *testing.T) {
	script := snapshotPart(t, "testdata/transcripts/dnd.ami") + `
# presence dnd
Action: DBPut
Family: DND
Key: 201
Val: YES

Response: Success
ActionID: x
Message: Updated database successfully

Action: DBDel
Family: CF
Key: 201

Response: Error
ActionID: x
Message: Database entry not found

Action: Command
Command: devstate change Custom:DND201 BUSY

Response: Success
ActionID: x
Message: Command output follows

Action: QueueAdd
Queue: 401
Interface: Local/201@from-queue/n

Response: Success
ActionID: x
Message: Added interface to queue

Action: QueuePause
Queue: 401
Interface: Local/201@from-queue/n
Paused: false

Response: Success
ActionID: x
Message: Interface unpaused successfully

# keep the connection open until the test ends
Action: Logoff

Response: Goodbye
ActionID: x
`
	path := filepath.Join(t.TempDir(), "do.ami")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := newReplay(t, path)
	var mu sync.Mutex
	var got []cluster.Event
	ready := make(chan struct{}, 1)
	r := srv.runner(testDirectory(t), testObjects(t), Hooks{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go r.Run(ctx, func(_ context.Context, evs []cluster.Event) error {
		mu.Lock()
		got = append(got, evs...)
		mu.Unlock()
		for _, e := range evs {
			if e.Name == cluster.EvResync {
				ready <- struct{}{}
			}
		}
		return nil
	})
	select {
	case <-ready:
	case <-ctx.Done():
		t.Fatal("no snapshot")
	}
	for r.getConn() == nil {
		time.Sleep(time.Millisecond)
	}
	bad := []cluster.Command{
		{Name: "presence", Args: json.RawMessage(`{"exten":"201","status":"away"}`)},
		{Name: "presence", Args: json.RawMessage(`{"exten":"999","status":"dnd"}`)},
		{Name: "presence", Args: json.RawMessage(`{"exten":"201","status":"callforward"}`)},
		{Name: "queueLogin", Args: json.RawMessage(`{"exten":"203"}`)},
		{Name: "reboot"},
		{Name: "presence", Args: json.RawMessage(`not json`)},
		// Injection attempts (issue 12): none may reach the PBX; the
		// transcript fails the next good command if anything was sent.
		{Name: "presence", Args: json.RawMessage(`{"exten":"201","status":"callforward","to":"333\r\n\r\nAction: DBPut\r\nFamily: DND\r\nKey: 205\r\nVal: YES"}`)},
		{Name: "presence", Args: json.RawMessage(`{"exten":"201","status":"callforward","to":"+"}`)},
		{Name: "presence", Args: json.RawMessage(`{"exten":"201","status":"callforward","to":"333 123"}`)},
		{Name: "presence", Args: json.RawMessage(`{"exten":"201\r\nKey: 205","status":"dnd"}`)},
		{Name: "presence", Args: json.RawMessage(`{"exten":"201 x","status":"dnd"}`)},
		{Name: "presence", Args: json.RawMessage(`{"exten":"202","status":"cellphone","to":"333"}`)},
		{Name: "queueLogin", Args: json.RawMessage(`{"exten":"201","queue":"401\r\nAction: Originate"}`)},
	}
	for _, c := range bad {
		if _, err := r.Do(ctx, c); err == nil {
			t.Errorf("%s %s: no error", c.Name, c.Args)
		}
	}
	mu.Lock()
	before := len(got)
	mu.Unlock()
	if _, err := r.Do(ctx, cluster.NewCommand("t1", "alice", pbx.Presence{Exten: "201", Status: "dnd"})); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Do(ctx, cluster.NewCommand("t1", "alice", pbx.QueueLogin{Exten: "201"})); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	after := got[before:]
	mu.Unlock()
	var names []string
	for _, e := range after {
		names = append(names, e.Key)
	}
	if strings.Join(names, ",") != "exten/201,queuemember/401/201,queue/401" {
		t.Fatalf("events after commands: %v", names)
	}
	var ext struct{ DND bool }
	json.Unmarshal(after[0].Data, &ext)
	var mem struct{ LoggedIn bool }
	json.Unmarshal(after[1].Data, &mem)
	if !ext.DND || !mem.LoggedIn {
		t.Errorf("dnd=%v loggedIn=%v", ext.DND, mem.LoggedIn)
	}
	// The model now holds the state: the same command changes nothing
	// more (no AMI traffic is expected for it by the server, so only
	// check the model here).
	for _, e := range snapshot(r.model) {
		if e.Key == "exten/201" && !strings.Contains(string(e.Data), `"dnd":true`) {
			t.Errorf("snapshot: %s", e.Data)
		}
	}
}

func TestDoNotConnected(t *testing.T) {
	r := NewRunner(Config{Tenant: "t"}, nil, nil, nil, Hooks{})
	if _, err := r.Do(context.Background(), cluster.Command{Name: "presence"}); err != ErrNotConnected {
		t.Fatalf("err %v", err)
	}
	if !errors.Is(ErrNotConnected, cluster.ErrCommandUnavailable) || cluster.ResultOf(nil, ErrNotConnected).Status != 503 {
		t.Fatal("not connected is not a 503 (cluster.ErrCommandUnavailable)")
	}
}

// TestRunnerReady: Ready is closed once the snapshot is applied, open
// again while the connection is down, and closed after the next snapshot.
func TestRunnerReady(t *testing.T) {
	s, r := simRunner(t) // returns after the first snapshot
	isReady := func() bool {
		select {
		case <-r.Ready():
			return true
		default:
			return false
		}
	}
	if !isReady() {
		t.Fatal("not ready after the snapshot")
	}
	s.Restart(time.Second) // refuses logins for a second
	waitUntil(t, "not ready while the PBX is down", func() bool { return !isReady() })
	next := r.Ready()
	select {
	case <-next:
	case <-time.After(15 * time.Second):
		t.Fatal("not ready again after the PBX came back")
	}
	if r.getConn() == nil {
		t.Fatal("ready without a connection")
	}
}

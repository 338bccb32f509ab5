package ami

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/directory"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// fixedNow is the test clock (a few minutes after the transcripts' calls).
func fixedNow() time.Time { return time.UnixMilli(1712825630000) }

func testDirectory(t testing.TB) *directory.Directory {
	d, err := directory.Load("testdata/users.json", "testdata/profiles.json")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func testObjects(t testing.TB) *Objects {
	o, err := LoadObjects("testdata/objects.json")
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// goldenEvent is how an emitted event is written in a golden file.
type goldenEvent struct {
	Name string          `json:"name"`
	Key  string          `json:"key,omitempty"`
	Del  bool            `json:"del,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
}

// runTranscript plays a transcript to a Runner over TCP and returns every
// event it emitted.
func runTranscript(t *testing.T, path string) []cluster.Event {
	t.Helper()
	srv := newReplay(t, path)
	var mu sync.Mutex
	var got []cluster.Event
	downs := make(chan struct{}, 16)
	r := srv.runner(testDirectory(t), testObjects(t), Hooks{ConnState: func(up bool) {
		if !up {
			downs <- struct{}{}
		}
	}})
	r.backoffMin, r.backoffMax = 5*time.Millisecond, 10*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- r.Run(ctx, func(_ context.Context, evs []cluster.Event) error {
			mu.Lock()
			got = append(got, evs...)
			mu.Unlock()
			return nil
		})
	}()
	for i := 0; i < srv.parts; i++ {
		select {
		case <-downs:
		case <-ctx.Done():
			t.Fatalf("transcript not played to the end (connection %d of %d)", i+1, srv.parts)
		}
	}
	if !waitFor(ctx, srv.played) {
		t.Fatal("transcript not exhausted")
	}
	cancel()
	<-errc
	for _, a := range srv.unexpected() {
		t.Errorf("unexpected action: %s", a)
	}
	mu.Lock()
	defer mu.Unlock()
	return got
}

func TestTranscriptsGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/transcripts/*.ami")
	if len(files) == 0 {
		t.Fatal("no transcripts")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".ami")
		t.Run(name, func(t *testing.T) {
			evs := runTranscript(t, f)
			out := make([]goldenEvent, 0, len(evs))
			for _, e := range evs {
				if e.Tenant != "t1" {
					t.Errorf("event %s has tenant %q", e.Name, e.Tenant)
				}
				out = append(out, goldenEvent{Name: e.Name, Key: e.Key, Del: e.Del, Data: e.Data})
			}
			b, err := json.MarshalIndent(out, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			b = append(b, '\n')
			gpath := filepath.Join("testdata/golden", name+".json")
			if *update {
				if err := os.WriteFile(gpath, b, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(gpath)
			if err != nil {
				t.Fatalf("%v (run go test ./ami -update)", err)
			}
			if !bytes.Equal(b, want) {
				t.Errorf("events differ from %s (go test ./ami -run TestTranscriptsGolden -update to accept):\n%s", gpath, firstDiff(string(want), string(b)))
			}
			checkNoDuplicateChanges(t, evs)
		})
	}
}

// checkNoDuplicateChanges fails when an object is published twice in a row
// with the same JSON (a change event without a change).
func checkNoDuplicateChanges(t *testing.T, evs []cluster.Event) {
	t.Helper()
	last := map[string]string{}
	for _, e := range evs {
		if e.Key == "" {
			continue
		}
		if e.Name == cluster.EvResync {
			continue
		}
		if prev, ok := last[e.Key]; ok && prev == string(e.Data) && !e.Del {
			t.Errorf("%s published twice with the same JSON", e.Key)
		}
		last[e.Key] = string(e.Data)
	}
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + itoa(i+1) + ":\n want: " + w + "\n  got: " + g
		}
	}
	return ""
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

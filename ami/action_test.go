package ami

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/staskobzar/goami2"
)

func TestActionRefusesUnsafeHeaders(t *testing.T) {
	long := strings.Repeat("9", maxActionLine)
	for _, tc := range []struct {
		name string
		kv   []string
		ok   bool
	}{
		{"DBPut", []string{"Family", "CF", "Key", "201", "Val", "+390612345678"}, true},
		{"Command", []string{"Command", "devstate change Custom:DND201 BUSY"}, true},
		{"DBPut", []string{"Family", "CF", "Key", "201", "Val", "333\r\n\r\nAction: DBPut"}, false},
		{"DBPut", []string{"Family", "CF", "Key", "201", "Val", "333\nAction: Hangup"}, false},
		{"DBPut", []string{"Family", "CF", "Key", "201", "Val", "333\rX"}, false},
		{"DBPut", []string{"Family", "CF", "Key", "201", "Val", "333\x00"}, false},
		{"DBPut", []string{"Family", "CF", "Key\r\nAction: Originate", "201"}, false},
		{"DBPut", []string{"Fam ily", "CF"}, false},
		{"DBPut", []string{"Family:", "CF"}, false},
		{"DBPut", []string{"", "CF"}, false},
		{"DBPut", []string{"Family"}, false},
		{"DBPut", []string{"Val", long}, false},
		{"DB\r\nPut", nil, false},
		{"", nil, false},
	} {
		a, err := action(tc.name, tc.kv...)
		if tc.ok != (err == nil) {
			t.Errorf("action(%q, %q): err = %v, want ok=%v", tc.name, tc.kv, err, tc.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrUnsafeAction) {
				t.Errorf("action(%q): error %v does not wrap ErrUnsafeAction", tc.name, err)
			}
			if a != nil {
				t.Errorf("action(%q): a refused action was still built", tc.name)
			}
			if strings.ContainsAny(err.Error(), "\r\n\x00") {
				t.Errorf("action(%q): error message carries control characters: %q", tc.name, err)
			}
		}
	}
}

// TestConnActionRefusesUnsafeMessage: a message built without the builder
// is refused by Conn.Action before anything is written.
func TestConnActionRefusesUnsafeMessage(t *testing.T) {
	srv := newReplay(t, writeTranscript(t, "Action: Command\nCommand: core show uptime\n\nResponse: Success\nActionID: x\nMessage: Command output follows\n\n"+
		"# keep the connection open until the test ends\nAction: Logoff\n\nResponse: Goodbye\nActionID: x\n"))
	c, err := Dial(context.Background(), DialConfig{Address: srv.addr(), Username: "u", Secret: "s", PingInterval: -1}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a := goami2.NewAction("DBPut")
	a.AddField("Family", "CF")
	a.AddField("Val", "1\r\nAction: Originate")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := c.Action(ctx, a); !errors.Is(err, ErrUnsafeAction) {
		t.Fatalf("Conn.Action(unsafe) = %v, want ErrUnsafeAction", err)
	}
	// The connection is still in step: the next expected action works.
	r, err := do(ctx, c, "Command", "Command", "core show uptime")
	if err != nil || r.Err() != nil {
		t.Fatalf("next action after a refused one: %v", err)
	}
}

// FuzzAction: whatever the input, the builder either refuses it or produces
// exactly one AMI message whose headers read back exactly as given.
func FuzzAction(f *testing.F) {
	f.Add("DBPut", "Val", "333")
	f.Add("DBPut", "Val", "333\r\n\r\nAction: DBPut\r\nFamily: DND")
	f.Add("Command", "Command", "devstate change Custom:DND201 BUSY")
	f.Add("Originate", "Channel", "PJSIP/201\nAction: Hangup")
	f.Fuzz(func(t *testing.T, name, key, val string) {
		a, err := action(name, "Family", "CF", key, val, "Key", "201")
		if err != nil {
			if !errors.Is(err, ErrUnsafeAction) {
				t.Fatalf("error %v does not wrap ErrUnsafeAction", err)
			}
			return
		}
		raw := a.Byte()
		if !bytes.HasSuffix(raw, []byte("\r\n\r\n")) || bytes.Count(raw, []byte("\r\n\r\n")) != 1 {
			t.Fatalf("built action is not exactly one message: %q", raw)
		}
		sc := bufio.NewScanner(bytes.NewReader(raw))
		var lines []string
		for sc.Scan() {
			if l := strings.TrimSuffix(sc.Text(), "\r"); l != "" {
				lines = append(lines, l)
			}
		}
		want := []string{"Action: " + name, "Family: CF", key + ": " + val, "Key: 201"}
		if strings.Join(lines, "\n") != strings.Join(want, "\n") {
			t.Fatalf("headers read back differ:\n got %q\nwant %q", lines, want)
		}
	})
}

// writeTranscript writes a transcript to a temporary file.
func writeTranscript(t *testing.T, script string) string {
	t.Helper()
	path := t.TempDir() + "/t.ami"
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

package asterisk_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/internal/asterisk"
	"github.com/ctiws/ctiws/internal/sipp"
)

// lab is a started PBX with registered phones, for one test.
type lab struct {
	pbx    *asterisk.PBX
	phones map[string]*sipp.Phone
}

// logBuffer is a goroutine-safe buffer for Asterisk's log.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startLab starts the PBX (skipping the test without
// CTIWS_ASTERISK_PREFIX) and registers the given devices.
func startLab(t *testing.T, ctx context.Context, o asterisk.Options, devices ...string) *lab {
	t.Helper()
	prefix := os.Getenv("CTIWS_ASTERISK_PREFIX")
	if prefix == "" {
		t.Skip("CTIWS_ASTERISK_PREFIX is not set: the live PBX tests need an Asterisk built by scripts/asterisk-build.sh (its output is the prefix)")
	}
	var log logBuffer
	o.Prefix, o.Dir, o.Log = prefix, t.TempDir(), &log
	p, err := asterisk.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if t.Failed() {
			t.Logf("asterisk log:\n%s", log.String())
		}
	})
	l := &lab{pbx: p, phones: map[string]*sipp.Phone{}}
	for _, d := range devices {
		ph, err := sipp.NewPhone(d, asterisk.Password(d), "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if err := ph.Register(ctx, p.SIPAddr(), 300); err != nil {
			t.Fatal(err)
		}
		l.phones[d] = ph
	}
	return l
}

// cli runs a CLI command or fails the test.
func (l *lab) cli(t *testing.T, ctx context.Context, cmd string) string {
	t.Helper()
	out, err := l.pbx.CLI(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// eventually polls a CLI command until its output contains want.
func (l *lab) eventually(t *testing.T, ctx context.Context, cmd, want string) string {
	t.Helper()
	var out string
	for {
		out = l.cli(t, ctx, cmd)
		if strings.Contains(out, want) {
			return out
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%q never showed %q; last output:\n%s", cmd, want, out)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func TestBasicCall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	l := startLab(t, ctx, asterisk.Options{}, "201", "91201", "92201", "202", "203", "204")
	out := l.cli(t, ctx, "pjsip show contacts")
	for _, d := range []string{"201", "91201", "92201", "202", "203", "204"} {
		if !strings.Contains(out, "Contact:  "+d+"/sip:"+d+"@") {
			t.Errorf("no contact for %s in:\n%s", d, out)
		}
	}
	in, err := l.phones["203"].Receive(ctx, sipp.Script{Ring: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Stop()
	call, err := l.phones["202"].Dial(ctx, l.pbx.SIPAddr(), "203", sipp.Script{Talk: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer call.Stop()
	l.eventually(t, ctx, "core show channels concise", "PJSIP/203-")
	if err := call.Wait(ctx); err != nil {
		t.Logf("messages:\n%s", call.Messages())
		t.Fatalf("caller: %v", err)
	}
	if err := in.Wait(ctx); err != nil {
		t.Fatalf("callee: %v", err)
	}
	t.Logf("caller %v, callee %v", call.Events(), in.Events())
}

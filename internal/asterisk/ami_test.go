package asterisk_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// amiMsg is one AMI message (repeated keys keep the last value).
type amiMsg map[string]string

func (m amiMsg) String() string {
	var b strings.Builder
	for _, k := range []string{"Event", "Response", "Channel", "DestChannel", "Exten", "AppData", "Uniqueid"} {
		if v, ok := m[k]; ok {
			fmt.Fprintf(&b, "%s=%s ", k, v)
		}
	}
	return strings.TrimSpace(b.String())
}

// amiWatch records every AMI event of one session and sends actions; the
// tests use it to see what ctiws would read.
type amiWatch struct {
	conn   net.Conn
	mu     sync.Mutex
	msgs   []amiMsg
	notify chan struct{}
	nextID int
}

// watchAMI logs in with events on.
func watchAMI(t *testing.T, ctx context.Context, addr, user, secret string) *amiWatch {
	t.Helper()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	w := &amiWatch{conn: c, notify: make(chan struct{}, 1)}
	t.Cleanup(func() { c.Close() })
	r := bufio.NewReader(c)
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	go w.read(r)
	w.action(t, ctx, "Login", "Username", user, "Secret", secret, "Events", "on")
	return w
}

func (w *amiWatch) read(r *bufio.Reader) {
	m := amiMsg{}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if len(m) > 0 {
				w.mu.Lock()
				w.msgs = append(w.msgs, m)
				w.mu.Unlock()
				select {
				case w.notify <- struct{}{}:
				default:
				}
				m = amiMsg{}
			}
			continue
		}
		if k, v, ok := strings.Cut(line, ": "); ok {
			m[k] = v
		}
	}
}

// action sends an action and returns its response (failing the test on
// a timeout, not on an error response).
func (w *amiWatch) action(t *testing.T, ctx context.Context, name string, kv ...string) amiMsg {
	t.Helper()
	w.mu.Lock()
	w.nextID++
	id := fmt.Sprintf("lab-%d", w.nextID)
	w.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "Action: %s\r\nActionID: %s\r\n", name, id)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", kv[i], kv[i+1])
	}
	b.WriteString("\r\n")
	if _, err := w.conn.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	return w.wait(t, ctx, name+" response", func(m amiMsg) bool { return m["ActionID"] == id && m["Response"] != "" })
}

// wait returns the first message (since the session began) that matches.
func (w *amiWatch) wait(t *testing.T, ctx context.Context, what string, match func(amiMsg) bool) amiMsg {
	t.Helper()
	for {
		w.mu.Lock()
		for _, m := range w.msgs {
			if match(m) {
				w.mu.Unlock()
				return m
			}
		}
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			t.Fatalf("AMI: no %s; events:\n%s", what, w.dump())
		case <-w.notify:
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// event waits for an event with the given name whose fields contain kv.
func (w *amiWatch) event(t *testing.T, ctx context.Context, name string, kv ...string) amiMsg {
	t.Helper()
	return w.wait(t, ctx, name+" "+strings.Join(kv, " "), func(m amiMsg) bool {
		if m["Event"] != name {
			return false
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if !strings.Contains(m[kv[i]], kv[i+1]) {
				return false
			}
		}
		return true
	})
}

// dump lists the events seen, one a line.
func (w *amiWatch) dump() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var b strings.Builder
	for _, m := range w.msgs {
		b.WriteString(m.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// all returns the events named name seen so far.
func (w *amiWatch) all(name string) []amiMsg {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []amiMsg
	for _, m := range w.msgs {
		if m["Event"] == name {
			out = append(out, m)
		}
	}
	return out
}

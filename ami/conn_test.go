package ami

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"log/slog"
)

const (
	banner   = "Asterisk Call Manager/7.0.3\r\n"
	loginOK  = "Response: Success\r\nActionID: login\r\nMessage: Authentication accepted\r\n\r\n"
	booted   = "Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n"
	hangupEv = "Event: Hangup\r\nPrivilege: call,all\r\nChannel: PJSIP/201-00000001\r\nCause: 16\r\nCause-txt: Normal Clearing\r\n\r\n"
	userEv   = "Event: UserEvent\r\nUserEvent: CallIn\r\nData_Field: 1\r\nX: y\r\n\r\n"
)

// fakeServer accepts connections and runs handle on each.
func fakeServer(t *testing.T, handle func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// readAction reads one action from the client.
func readAction(fr *framer) (string, error) {
	f, err := fr.next()
	if err != nil {
		return "", err
	}
	return string(f), nil
}

func collectEvents(t *testing.T, c *Conn, n int) []string {
	t.Helper()
	var got []string
	deadline := time.After(5 * time.Second)
	for len(got) < n {
		select {
		case <-c.Ready():
			for _, m := range c.Drain(nil) {
				got = append(got, field(m, "Event"))
			}
		case <-deadline:
			t.Fatalf("got %v, want %d events", got, n)
		}
	}
	return got
}

func TestDialSplitBannerAndSameSegmentBoot(t *testing.T) {
	var sawEvents atomic.Bool
	addr := fakeServer(t, func(c net.Conn) {
		c.Write([]byte("Asterisk Call"))
		time.Sleep(5 * time.Millisecond)
		c.Write([]byte(" Manager/7.0.3\r\n"))
		fr := newFramer(c, maxMessageSize)
		login, err := readAction(fr)
		if err != nil {
			return
		}
		if !strings.Contains(login, "Events: on\r\n") || !strings.Contains(login, "Username: admin\r\n") {
			c.Write([]byte("Response: Error\r\nActionID: login\r\nMessage: bad login action\r\n\r\n"))
			return
		}
		sawEvents.Store(true)
		// Login reply, FullyBooted and two events in ONE write.
		c.Write([]byte(loginOK + booted + hangupEv + userEv))
		io.Copy(io.Discard, c)
	})
	c, err := Dial(context.Background(), DialConfig{Address: addr, Username: "admin", Secret: "x", PingInterval: -1}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !sawEvents.Load() {
		t.Fatal("login action lacked Events: on")
	}
	got := collectEvents(t, c, 2)
	if strings.Join(got, ",") != "Hangup,UserEvent" {
		t.Fatalf("events %v", got)
	}
}

func TestDialNoFullyBootedProceeds(t *testing.T) {
	addr := fakeServer(t, func(c net.Conn) {
		c.Write([]byte(banner))
		fr := newFramer(c, maxMessageSize)
		if _, err := readAction(fr); err != nil {
			return
		}
		c.Write([]byte(loginOK))
		// Half an event before the boot wait expires, the rest after.
		c.Write([]byte("Event: Hang"))
		time.Sleep(1200 * time.Millisecond)
		c.Write([]byte(hangupEv[len("Event: Hang"):]))
		io.Copy(io.Discard, c)
	})
	c, err := Dial(context.Background(), DialConfig{Address: addr, PingInterval: -1}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := collectEvents(t, c, 1); got[0] != "Hangup" {
		t.Fatalf("events %v", got)
	}
}

func TestDialErrors(t *testing.T) {
	tests := []struct {
		name   string
		handle func(c net.Conn)
		want   error
		text   string
	}{
		{"auth failed", func(c net.Conn) {
			c.Write([]byte(banner))
			readAction(newFramer(c, maxMessageSize))
			c.Write([]byte("Response: Error\r\nActionID: login\r\nMessage: Authentication failed\r\n\r\n"))
		}, ErrAuth, "Authentication failed"},
		{"bad banner", func(c net.Conn) { c.Write([]byte("SSH-2.0-OpenSSH\r\n")) }, nil, "unexpected banner"},
		{"closed before login reply", func(c net.Conn) {
			c.Write([]byte(banner))
			readAction(newFramer(c, maxMessageSize))
		}, io.EOF, "login response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fakeServer(t, tt.handle)
			_, err := Dial(context.Background(), DialConfig{Address: addr, DialTimeout: 2 * time.Second}, nil, nil)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("err %q does not say %q", err, tt.text)
			}
		})
	}
}

func TestRunnerLoginFailureBacksOff(t *testing.T) {
	var attempts atomic.Int32
	addr := fakeServer(t, func(c net.Conn) {
		attempts.Add(1)
		c.Write([]byte(banner))
		readAction(newFramer(c, maxMessageSize))
		c.Write([]byte("Response: Error\r\nActionID: login\r\nMessage: Authentication failed\r\n\r\n"))
	})
	var reconnects atomic.Int32
	r := NewRunner(Config{Address: addr, Tenant: "t"}, nil, nil, nil, Hooks{Reconnect: func() { reconnects.Add(1) }})
	r.backoffMin, r.backoffMax = 20*time.Millisecond, 40*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	err := r.Run(ctx, func(context.Context, []cluster.Event) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run returned %v", err)
	}
	// A tight loop would make hundreds of attempts; backoff makes a few.
	if n := attempts.Load(); n < 2 || n > 40 {
		t.Errorf("%d login attempts", n)
	}
	if reconnects.Load() < 1 {
		t.Error("Reconnect hook not called")
	}
}

func TestRestartBackoff(t *testing.T) {
	r := &Runner{backoffMin: time.Second, backoffMax: 30 * time.Second}
	for _, c := range []struct {
		name   string
		delay  time.Duration
		worked bool
		ran    time.Duration
		want   time.Duration
	}{
		{"refused at once: keep growing", 8 * time.Second, false, 10 * time.Millisecond, 8 * time.Second},
		{"dropped before its snapshot: keep growing", 16 * time.Second, false, 5 * time.Second, 16 * time.Second},
		{"worked, then lost: start over", 16 * time.Second, true, 2 * time.Second, time.Second},
		{"ran for a while without a snapshot: start over", 30 * time.Second, false, 61 * time.Second, time.Second},
	} {
		if got := r.restartBackoff(c.delay, c.worked, c.ran); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestRunnerCountsReadySessions(t *testing.T) {
	r := NewRunner(Config{Tenant: "t"}, nil, nil, nil, Hooks{})
	if r.sessionsReady() != 0 {
		t.Fatal("a new runner counts a ready session")
	}
	c := &Conn{}
	r.setConn(c)
	r.setConn(c) // still the same session
	r.setConn(nil)
	if n := r.sessionsReady(); n != 1 {
		t.Fatalf("%d ready sessions after one, want 1", n)
	}
}

func TestJitterBounds(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 2, time.Second, 30 * time.Second} {
		for i := 0; i < 100; i++ {
			j := jitter(d)
			if j < d/2 || j > d {
				t.Fatalf("jitter(%v) = %v", d, j)
			}
		}
	}
}

func TestKeepaliveTimeoutReconnects(t *testing.T) {
	var conns atomic.Int32
	addr := fakeServer(t, func(c net.Conn) {
		conns.Add(1)
		c.Write([]byte(banner))
		fr := newFramer(c, maxMessageSize)
		readAction(fr)
		c.Write([]byte(loginOK + booted))
		// Answer the snapshot with errors, never answer a Ping.
		for {
			a, err := readAction(fr)
			if err != nil {
				return
			}
			if strings.Contains(a, "Action: Ping") {
				continue
			}
			id := a[strings.Index(a, "ActionID: ")+10:]
			id = id[:strings.Index(id, "\r\n")]
			c.Write([]byte("Response: Error\r\nActionID: " + id + "\r\nMessage: Permission denied\r\n\r\n"))
		}
	})
	ups := make(chan bool, 16)
	r := NewRunner(Config{Address: addr, Tenant: "t", PingInterval: 50 * time.Millisecond, ReconcileInterval: -1}, nil, nil, nil,
		Hooks{ConnState: func(up bool) { ups <- up }})
	r.backoffMin, r.backoffMax = 5*time.Millisecond, 10*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go r.Run(ctx, func(context.Context, []cluster.Event) error { return nil })
	want := []bool{true, false, true}
	for i, w := range want {
		select {
		case up := <-ups:
			if up != w {
				t.Fatalf("state %d: %v, want %v", i, up, w)
			}
		case <-ctx.Done():
			t.Fatalf("no state change %d", i)
		}
	}
}

func TestRunnerReturnsNotOwnerAtOnce(t *testing.T) {
	srv := newReplay(t, "testdata/transcripts/dnd.ami")
	r := srv.runner(testDirectory(t), testObjects(t), Hooks{})
	err := r.Run(context.Background(), func(context.Context, []cluster.Event) error {
		return errors.Join(errors.New("fence"), cluster.ErrNotOwner)
	})
	if !errors.Is(err, cluster.ErrNotOwner) {
		t.Fatalf("Run returned %v", err)
	}
}

// stream is a server byte stream used by the framing tests.
const stream = banner + loginOK + booted + hangupEv + "\r\n" + userEv +
	"Response: Follows\r\nActionID: c1\r\nPrivilege: Command\r\nraw output line\r\n--END COMMAND--\r\n\r\n" +
	"Event: Newexten\nChannel: PJSIP/201-1\nAppData: DB(DND/201)=YES\n\n"

func frames(t *testing.T, r io.Reader) (bannerLine string, evs []string) {
	t.Helper()
	fr := newFramer(r, maxMessageSize)
	b, err := fr.line()
	if err != nil {
		t.Fatal(err)
	}
	for {
		f, err := fr.next()
		if err == io.EOF {
			return b, evs
		}
		if err != nil {
			t.Fatal(err)
		}
		m, _, err := parseFrame(f)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, field(m, "Event")+field(m, "Response")+"|"+field(m, "Data_Field")+field(m, "AppData"))
	}
}

// chunkReader returns the stream in two reads split at n.
type chunkReader struct {
	parts [][]byte
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.parts) > 0 && len(c.parts[0]) == 0 {
		c.parts = c.parts[1:]
	}
	if len(c.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.parts[0])
	c.parts[0] = c.parts[0][n:]
	return n, nil
}

func TestFramingSplitAtEveryByte(t *testing.T) {
	wantBanner, want := frames(t, strings.NewReader(stream))
	if wantBanner != "Asterisk Call Manager/7.0.3" || len(want) != 6 {
		t.Fatalf("baseline: %q %q", wantBanner, want)
	}
	if want[3] != "UserEvent|1" || want[5] != "Newexten|DB(DND/201)=YES" {
		t.Fatalf("fallback parsing: %q", want)
	}
	for i := 1; i < len(stream); i++ {
		b, got := frames(t, &chunkReader{parts: [][]byte{[]byte(stream[:i]), []byte(stream[i:])}})
		if b != wantBanner || strings.Join(got, ";") != strings.Join(want, ";") {
			t.Fatalf("split at %d: %q %q", i, b, got)
		}
	}
	if _, got := frames(t, iotest.OneByteReader(strings.NewReader(stream))); strings.Join(got, ";") != strings.Join(want, ";") {
		t.Fatalf("one byte at a time: %q", got)
	}
}

func TestFramingOversizeAndJunk(t *testing.T) {
	junk := []byte{0x00, 0xff, 0xfe, ':', '\r', '\n', 0x01, '\n', '\n'}
	big := "Event: Big\r\nData: " + strings.Repeat("x", 100<<10) + "\r\n\r\n"
	long := "Event: Long\r\n" + strings.Repeat("Line: abc\r\n", 10000) + "\r\n"
	in := string(junk) + big + long + "Event: After\r\n\r\n"
	fr := newFramer(strings.NewReader(in), maxMessageSize)
	var oversize, malformed int
	var got []string
	for {
		f, err := fr.next()
		if err == io.EOF {
			break
		}
		if errors.Is(err, errOversize) {
			oversize++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		m, _, err := parseFrame(f)
		if err != nil {
			malformed++
			continue
		}
		got = append(got, field(m, "Event"))
	}
	if oversize != 2 || malformed != 1 || strings.Join(got, ",") != "After" {
		t.Fatalf("oversize=%d malformed=%d events=%v", oversize, malformed, got)
	}
}

func TestConnJunkOverTCPKeepsWorking(t *testing.T) {
	var mu sync.Mutex
	reasons := map[string]int{}
	addr := fakeServer(t, func(c net.Conn) {
		c.Write([]byte(banner))
		fr := newFramer(c, maxMessageSize)
		readAction(fr)
		c.Write([]byte(loginOK + booted))
		c.Write([]byte{0xde, 0xad, 0xbe, 0xef, '\r', '\n', '\r', '\n'})
		c.Write(bytes.Repeat([]byte("A"), 70<<10))
		c.Write([]byte("\r\n\r\n" + hangupEv))
		// Answer one list action, with an unrelated event in the middle.
		a, _ := readAction(fr)
		id := a[strings.Index(a, "ActionID: ")+10:]
		id = id[:strings.Index(id, "\r\n")]
		c.Write([]byte("Response: Success\r\nActionID: " + id + "\r\nEventList: start\r\n\r\n" +
			"Event: CoreShowChannel\r\nActionID: " + id + "\r\nChannel: PJSIP/201-1\r\n\r\n" + userEv +
			"Event: CoreShowChannelsComplete\r\nActionID: " + id + "\r\nEventList: Complete\r\nListItems: 1\r\n\r\n"))
		a, _ = readAction(fr)
		id = a[strings.Index(a, "ActionID: ")+10:]
		id = id[:strings.Index(id, "\r\n")]
		c.Write([]byte("Response: Error\r\nActionID: " + id + "\r\nMessage: No active conferences.\r\n\r\n"))
		io.Copy(io.Discard, c)
	})
	hooks := &Hooks{ParseError: func(r string) { mu.Lock(); reasons[r]++; mu.Unlock() }}
	c, err := Dial(context.Background(), DialConfig{Address: addr, PingInterval: -1}, nil, hooks)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := do(context.Background(), c, "CoreShowChannels")
	if err != nil || r.Err() != nil || len(r.Items) != 1 || field(r.Items[0], "Channel") != "PJSIP/201-1" {
		t.Fatalf("list: %v %+v", err, r)
	}
	r, err = do(context.Background(), c, "ConfbridgeListRooms")
	if err != nil || !errors.Is(r.Err(), ErrActionFailed) {
		t.Fatalf("empty list: %v %v", err, r.Err())
	}
	got := collectEvents(t, c, 2)
	if strings.Join(got, ",") != "Hangup,UserEvent" {
		t.Fatalf("events %v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if reasons["oversize"] != 1 || reasons["malformed"] != 1 {
		t.Errorf("parse errors %v", reasons)
	}
}

func TestParseNeverPanics(t *testing.T) {
	for _, in := range []string{"Response: Success\r", "Response: Success\r\nM", "A: b\r\n\r\n", "_X: 1\r\n\r\n", ":\r\n\r\n", "\r\n\r\n"} {
		parseFrame([]byte(in))
		safeParse(in)
	}
}

// TestConnAnswerThenEOF: a PBX that answers an action and closes the
// connection at once still delivers the answer. The reader completes the
// answer before it sees the end; here the caller only reaches its wait
// once both happened, where a plain select would pick either at random.
func TestConnAnswerThenEOF(t *testing.T) {
	for i := 0; i < 20; i++ {
		client, pbx := net.Pipe()
		var c *Conn
		c = newConn(&afterWrite{Conn: client, after: func() { <-c.done }}, slog.New(slog.DiscardHandler), &Hooks{})
		go c.readLoop()
		go func() {
			fr := newFramer(pbx, maxMessageSize)
			f, err := fr.next()
			if err != nil {
				t.Error(err)
				return
			}
			m, _, _ := parseFrame(f)
			_, _ = pbx.Write([]byte("Response: Success\r\nActionID: " + field(m, "ActionID") + "\r\nMessage: ok\r\n\r\n"))
			pbx.Close()
		}()
		a, err := action("Ping")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, err := c.Action(ctx, a)
		cancel()
		if err != nil {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
		if got := field(r.Message, "Message"); got != "ok" {
			t.Fatalf("attempt %d: message %q", i+1, got)
		}
	}
}

// afterWrite runs after once each Write has returned.
type afterWrite struct {
	net.Conn
	after func()
}

func (w *afterWrite) Write(b []byte) (int, error) {
	n, err := w.Conn.Write(b)
	w.after()
	return n, err
}

// TestConnActionsInFlightMatchedByActionID: several actions wait on one
// connection at once (the owner carries out different users' commands
// concurrently); the PBX answers them in reverse order, and each caller
// gets its own answer. A quick action is answered while the others wait.
func TestConnActionsInFlightMatchedByActionID(t *testing.T) {
	const n = 8
	client, pbx := net.Pipe()
	c := newConn(client, slog.New(slog.DiscardHandler), &Hooks{})
	go c.readLoop()
	defer c.Close()
	go func() {
		fr := newFramer(pbx, maxMessageSize)
		var ids, tags []string
		pinged := false
		for len(ids) < n || !pinged {
			f, err := fr.next()
			if err != nil {
				t.Error(err)
				return
			}
			m, _, _ := parseFrame(f)
			id := field(m, "ActionID")
			if field(m, "Action") == "Ping" {
				pinged = true
				_, _ = pbx.Write([]byte("Response: Success\r\nActionID: " + id + "\r\nPing: Pong\r\n\r\n"))
				continue
			}
			_, _ = pbx.Write([]byte("Response: Success\r\nActionID: " + id + "\r\nMessage: Originate successfully queued\r\n\r\n"))
			ids, tags = append(ids, id), append(tags, field(m, "Exten"))
		}
		for i := n - 1; i >= 0; i-- {
			_, _ = pbx.Write([]byte("Event: OriginateResponse\r\nActionID: " + ids[i] + "\r\nResponse: Success\r\nExten: " + tags[i] + "\r\n\r\n"))
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := make(chan error, n)
	for i := range n {
		go func() {
			want := strconv.Itoa(200 + i)
			a, err := action("Originate", "Channel", "PJSIP/201", "Exten", want, "Async", "true")
			if err != nil {
				errs <- err
				return
			}
			r, err := c.ActionUntil(ctx, a, "OriginateResponse")
			switch {
			case err != nil:
				errs <- err
			case len(r.Items) != 1 || field(r.Items[0], "Exten") != want:
				errs <- fmt.Errorf("originate %s got %v", want, r.Items)
			default:
				errs <- nil
			}
		}()
	}
	ping, err := action("Ping")
	if err != nil {
		t.Fatal(err)
	}
	if r, err := c.Action(ctx, ping); err != nil || field(r.Message, "Ping") != "Pong" {
		t.Fatalf("ping while originates wait: %v %v", r, err)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestRunnerLastError: why the last session ended is kept with its time
// (the operator console's "last error"), and none before any session.
func TestRunnerLastError(t *testing.T) {
	refused := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}
	for _, tc := range []struct {
		name string
		addr func(t *testing.T) string
		text string
	}{
		{"login refused", func(t *testing.T) string {
			return fakeServer(t, func(c net.Conn) {
				c.Write([]byte(banner))
				readAction(newFramer(c, maxMessageSize))
				c.Write([]byte("Response: Error\r\nActionID: login\r\nMessage: Authentication failed\r\n\r\n"))
			})
		}, "Authentication failed"},
		{"connection refused", refused, "refused"},
		{"closed before login reply", func(t *testing.T) string {
			return fakeServer(t, func(c net.Conn) {
				c.Write([]byte(banner))
				readAction(newFramer(c, maxMessageSize))
			})
		}, "login response"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRunner(Config{Address: tc.addr(t), Tenant: "t", DialTimeout: 2 * time.Second}, nil, nil, nil, Hooks{})
			if msg, at := r.LastError(); msg != "" || !at.IsZero() {
				t.Fatalf("LastError before any session = %q, %v", msg, at)
			}
			r.backoffMin, r.backoffMax = 20*time.Millisecond, 40*time.Millisecond
			start := time.Now()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { _ = r.Run(ctx, func(context.Context, []cluster.Event) error { return nil }); close(done) }()
			defer func() { cancel(); <-done }()
			var msg string
			var at time.Time
			for deadline := time.Now().Add(5 * time.Second); msg == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				msg, at = r.LastError()
			}
			if !strings.Contains(msg, tc.text) {
				t.Errorf("LastError = %q, want it to say %q", msg, tc.text)
			}
			if at.Before(start) || at.After(time.Now()) {
				t.Errorf("LastError at %v, not within the run (from %v)", at, start)
			}
		})
	}
}

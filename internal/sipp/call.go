package sipp

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"
)

//go:embed scenarios/*.xml
var scenarioFS embed.FS

const (
	// stepMS bounds each wait for an answer to a request the phone sent
	// (and the ACKs it expects), in milliseconds.
	stepMS = 10000
	// defaultLife bounds a SIPp process when ctx has no deadline.
	defaultLife = 120 * time.Second
	// referWait is how long a transferring phone waits for the PBX's
	// NOTIFYs and BYE before it hangs up itself.
	referWait = 10 * time.Second
	// bindWait bounds the wait for the phone's port: free before a start
	// (the previous process's exit), taken after it (SIPp listening).
	bindWait = 5 * time.Second
)

// Script says what a phone does in a call. The zero Script answers at
// once (UAS) and waits for the far end's BYE.
type Script struct {
	// Ring (UAS): send 180 Ringing, answer after Ring.
	Ring time.Duration
	// Reject (UAS): answer the INVITE with this status (486, 603, ...).
	Reject int
	// NoAnswer (UAS): ring until the caller cancels.
	NoAnswer bool
	// Calls (UAS): how many INVITEs the process handles (default 1; 2
	// for call waiting). Each runs the same script.
	Calls int
	// Cancel (UAC): give the call up (CANCEL) when it is not answered
	// within Cancel. Zero: wait for the answer (bounded by ctx).
	Cancel time.Duration
	// Expect (UAC): the failure status expected instead of an answer
	// (486 when calling a DND user); Wait fails on any other outcome.
	Expect int
	// Talk: after the answer (and Hold, DTMF), hang up after Talk; zero
	// waits for the far end's BYE.
	Talk time.Duration
	// Hold: put the call on hold (re-INVITE a=sendonly) Hold[0] after the
	// answer, resume (a=sendrecv) Hold[1] later. Zero: no hold.
	Hold [2]time.Duration
	// Refer: after the answer (and Hold), blind transfer the far end to
	// this number (REFER), then take the NOTIFYs until the PBX hangs up.
	Refer string
	// DTMF: digits sent after the answer as SIP INFO
	// (application/dtmf-relay).
	DTMF string
}

// Call is one SIPp process: a call placed (Dial) or the calls awaited
// (Receive).
type Call struct {
	cmd    *exec.Cmd
	dir    string
	expect int  // UAC: Script.Expect
	uac    bool // placed by Dial
	stderr bytes.Buffer

	done     chan struct{}
	waitErr  error
	once     sync.Once
	mu       sync.Mutex
	result   error
	events   []string
	messages string
}

// Dial calls number through the PBX at pbx ("ip:port") from the phone's
// address, answering a 401/407 challenge with the phone's credentials,
// and then follows s. The call runs in the background: Wait for its end.
func (p *Phone) Dial(ctx context.Context, pbx, number string, s Script) (*Call, error) {
	if number == "" || strings.ContainsAny(number, "<>\" \r\n@") {
		return nil, fmt.Errorf("sipp: dial: bad number %q", number)
	}
	d := p.callData(s)
	d.UAC, d.Number = true, number
	d.Me = `"` + p.Ext + `" <sip:` + p.Ext + `@[remote_ip]>;tag=[pid]SIPpTag00[call_number]`
	d.Peer = "[$peer]"
	d.CancelMS = ms(s.Cancel)
	d.Failures = []int{403, 404, 408, 480, 484, 486, 487, 488, 500, 503, 603}
	d.build(s)
	c, err := p.start(ctx, "call", pbx, d, 1)
	if err != nil {
		return nil, err
	}
	c.uac, c.expect = true, s.Expect
	return c, nil
}

// Receive starts a UAS on the phone's address that handles s.Calls
// INVITEs (default 1) following s; it returns once SIPp listens.
func (p *Phone) Receive(ctx context.Context, s Script) (*Call, error) {
	d := p.callData(s)
	d.Me = "[$me];tag=[pid]SIPpTag01[call_number]"
	d.Peer = "[$peer]"
	d.Reject, d.NoAnswer, d.RingMS = s.Reject, s.NoAnswer, max(ms(s.Ring), 1)
	if s.Reject != 0 {
		d.RejectReason = reason(s.Reject)
	}
	d.build(s)
	calls := max(s.Calls, 1)
	return p.start(ctx, "call", "", d, calls)
}

// callData fills what both roles share.
func (p *Phone) callData(s Script) *scenarioData {
	return &scenarioData{
		Ext: p.Ext, Password: p.Password, UserAgent: userAgent, StepMS: stepMS,
		ReferWaitMS: ms(referWait),
		SDPOffer:    sdp{Version: 1, Port: dummyRTPPort, Dir: "sendrecv"},
	}
}

// dummyRTPPort is the RTP port announced in the SDP: discard, nobody
// listens on it (the PBX's RTP is dropped).
const dummyRTPPort = 9

func ms(d time.Duration) int { return int(d / time.Millisecond) }

// reason is the reason phrase of a status code.
func reason(code int) string {
	switch code {
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 480:
		return "Temporarily Unavailable"
	case 486:
		return "Busy Here"
	case 488:
		return "Not Acceptable Here"
	case 600:
		return "Busy Everywhere"
	case 603:
		return "Decline"
	}
	return "Rejected"
}

// start renders scenario name with d into a temporary folder and runs
// SIPp on the phone's address (towards remote unless it is a UAS).
func (p *Phone) start(ctx context.Context, name, remote string, d any, calls int) (*Call, error) {
	if _, err := exec.LookPath(Binary); err != nil {
		return nil, ErrNoSIPp
	}
	ip, port, err := net.SplitHostPort(p.Addr)
	if err != nil {
		return nil, fmt.Errorf("sipp: phone address %q: %w", p.Addr, err)
	}
	dir, err := os.MkdirTemp("", "sipp-"+p.Ext+"-")
	if err != nil {
		return nil, fmt.Errorf("sipp: %w", err)
	}
	fail := func(err error) (*Call, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	tpl, err := template.New(name).Funcs(templateFuncs()).ParseFS(scenarioFS, "scenarios/"+name+".xml")
	if err != nil {
		return fail(fmt.Errorf("sipp: parse scenario %s: %w", name, err))
	}
	var xml bytes.Buffer
	if err := tpl.ExecuteTemplate(&xml, name+".xml", d); err != nil {
		return fail(fmt.Errorf("sipp: render scenario %s: %w", name, err))
	}
	scen := filepath.Join(dir, name+".xml")
	if err := os.WriteFile(scen, xml.Bytes(), 0o644); err != nil {
		return fail(fmt.Errorf("sipp: %w", err))
	}
	life := defaultLife
	if dl, ok := ctx.Deadline(); ok {
		life = time.Until(dl)
	}
	if life < time.Second {
		return fail(fmt.Errorf("sipp: %s: no time left (%w)", name, context.DeadlineExceeded))
	}
	args := []string{
		"-sf", scen, "-i", ip, "-p", port, "-t", "u1",
		"-m", strconv.Itoa(calls), "-l", strconv.Itoa(calls),
		"-nostdin", "-aa",
		"-timeout", strconv.Itoa(int(life/time.Second)) + "s", "-timeout_error",
		"-max_retrans", "7",
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log"),
		"-trace_logs", "-log_file", filepath.Join(dir, "events.log"),
		"-trace_msg", "-message_file", filepath.Join(dir, "messages.log"),
	}
	if remote != "" {
		args = append([]string{remote}, args...)
	}
	if err := waitPort(ctx, ip, port, true); err != nil {
		return fail(fmt.Errorf("sipp: %s on %s: the port is still in use: %w", name, p.Addr, err))
	}
	cmd := exec.Command(Binary, args...)
	cmd.Dir = dir
	c := &Call{cmd: cmd, dir: dir, done: make(chan struct{})}
	cmd.Stderr = &c.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fail(fmt.Errorf("sipp: start: %w", err))
	}
	go func() { c.waitErr = cmd.Wait(); close(c.done) }()
	if err := c.listening(ctx, ip, port); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// waitPort waits until ip:port can (free true) or cannot (free false) be
// bound for UDP.
func waitPort(ctx context.Context, ip, port string, free bool) error {
	ctx, cancel := context.WithTimeout(ctx, bindWait)
	defer cancel()
	for {
		c, err := net.ListenPacket("udp", net.JoinHostPort(ip, port))
		if err == nil {
			c.Close()
		}
		if (err == nil) == free {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// listening returns once SIPp has bound its port (or fails when it exited).
func (c *Call) listening(ctx context.Context, ip, port string) error {
	ctx, cancel := context.WithTimeout(ctx, bindWait)
	defer cancel()
	for {
		select {
		case <-c.done:
			return c.finish()
		default:
		}
		conn, err := net.ListenPacket("udp", net.JoinHostPort(ip, port))
		if err != nil {
			return nil // SIPp holds it
		}
		conn.Close()
		select {
		case <-ctx.Done():
			return fmt.Errorf("sipp: not listening on %s:%s: %w", ip, port, ctx.Err())
		case <-c.done:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Wait waits for the end of the SIPp process (killing it when ctx ends)
// and returns nil when the scenario succeeded. Its error carries SIPp's
// error log and the last SIP messages. For a Dial, an answered call
// succeeds, or a refusal with Script.Expect's status.
func (c *Call) Wait(ctx context.Context) error {
	select {
	case <-c.done:
	case <-ctx.Done():
		c.Stop()
		return fmt.Errorf("sipp: call still running: %w", ctx.Err())
	}
	return c.finish()
}

// Stop kills the process (a cleanup; a no-op once it has ended).
func (c *Call) Stop() {
	select {
	case <-c.done:
	default:
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	_ = c.finish()
}

// Events returns the scenario's events so far, in order: "invite",
// "ringing", "answered", "cancelled", "rejected 486", "sent hold",
// "hold 200", "sent refer", "refer 202", "notify 200", "bye sent",
// "bye received", "end" (one "end" per call handled).
func (c *Call) Events() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.events != nil {
		return append([]string(nil), c.events...)
	}
	return readEvents(filepath.Join(c.dir, "events.log"))
}

// Answered reports whether the call was answered (by either side).
func (c *Call) Answered() bool {
	for _, e := range c.Events() {
		if e == "answered" {
			return true
		}
	}
	return false
}

// Messages returns SIPp's trace of the SIP messages (after the end).
func (c *Call) Messages() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.messages
}

// finish collects the outcome once the process has ended and removes the
// temporary folder. It runs once.
func (c *Call) finish() error {
	c.once.Do(func() {
		ev := readEvents(filepath.Join(c.dir, "events.log"))
		errs, _ := os.ReadFile(filepath.Join(c.dir, "errors.log"))
		msgs, _ := os.ReadFile(filepath.Join(c.dir, "messages.log"))
		c.mu.Lock()
		c.events, c.messages = ev, string(msgs)
		if c.events == nil {
			c.events = []string{}
		}
		c.mu.Unlock()
		c.result = c.judge(ev, errs, msgs)
		os.RemoveAll(c.dir)
	})
	return c.result
}

// judge turns the exit status and the events into Wait's answer.
func (c *Call) judge(ev []string, errs, msgs []byte) error {
	var detail strings.Builder
	if s := strings.TrimSpace(c.stderr.String()); s != "" {
		fmt.Fprintf(&detail, "\n--- sipp stderr ---\n%s", tail(s, 20))
	}
	if s := strings.TrimSpace(string(errs)); s != "" {
		fmt.Fprintf(&detail, "\n--- sipp errors ---\n%s", tail(s, 30))
	}
	fmt.Fprintf(&detail, "\n--- events ---\n%s", strings.Join(ev, ", "))
	if s := strings.TrimSpace(string(msgs)); s != "" {
		fmt.Fprintf(&detail, "\n--- last SIP messages ---\n%s", tail(s, 60))
	}
	if c.waitErr != nil {
		var ee *exec.ExitError
		if errors.As(c.waitErr, &ee) {
			return fmt.Errorf("sipp: scenario failed (%s)%s", exitMeaning(ee), detail.String())
		}
		return fmt.Errorf("sipp: %w%s", c.waitErr, detail.String())
	}
	if !c.uac {
		return nil
	}
	rejected := 0
	answered := false
	for _, e := range ev {
		if code, ok := strings.CutPrefix(e, "rejected "); ok {
			rejected, _ = strconv.Atoi(code)
		}
		if e == "answered" {
			answered = true
		}
	}
	switch {
	case c.expect != 0 && rejected == c.expect:
		return nil
	case c.expect != 0:
		return fmt.Errorf("sipp: expected a %d refusal, got %s%s", c.expect, outcome(answered, rejected), detail.String())
	case rejected != 0:
		return &RejectedError{Code: rejected, detail: detail.String()}
	}
	return nil
}

func outcome(answered bool, rejected int) string {
	switch {
	case answered:
		return "an answer"
	case rejected != 0:
		return strconv.Itoa(rejected)
	}
	return "no answer"
}

// RejectedError is Wait's error when a dialled call was refused with a
// final status that Script.Expect did not name.
type RejectedError struct {
	Code   int
	detail string
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("sipp: call refused with %d%s", e.Code, e.detail)
}

// exitMeaning explains SIPp's exit codes.
func exitMeaning(ee *exec.ExitError) string {
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}
	switch code := ee.ExitCode(); code {
	case 1:
		return "exit 1: a call failed"
	case 97:
		return "exit 97: stopped by an internal command"
	case 99:
		return "exit 99: no call processed"
	case 253:
		return "exit 253: RTP validation failed"
	case 254:
		return "exit 254: cannot bind its port"
	case 255:
		return "exit 255: fatal error"
	default:
		return "exit " + strconv.Itoa(code)
	}
}

// readEvents reads the <log> lines of the scenario.
func readEvents(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var ev []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			ev = append(ev, l)
		}
	}
	return ev
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append([]string{"…"}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

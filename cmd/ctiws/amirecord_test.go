package main

// amiRecorder sits between the owner node and a real Asterisk and keeps the
// AMI conversation, so a live flow can be written as a transcript (ami/sim's
// format) that the unit suite replays on every machine, with or without
// Asterisk.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// amiBlock is one AMI message as it crossed the proxy.
type amiBlock struct {
	at         time.Time
	fromClient bool
	headers    [][2]string
}

func (b amiBlock) get(key string) string {
	for _, h := range b.headers {
		if strings.EqualFold(h[0], key) {
			return h[1]
		}
	}
	return ""
}

func (b amiBlock) has(key string) bool {
	for _, h := range b.headers {
		if strings.EqualFold(h[0], key) {
			return true
		}
	}
	return false
}

// amiRecorder is a TCP proxy in front of one AMI server.
type amiRecorder struct {
	t        *testing.T
	ln       net.Listener
	upstream string

	mu     sync.Mutex
	conns  []net.Conn
	blocks []amiBlock // of the current segment (since the last cut)
	mark   time.Time  // the flow's start within the segment
}

// startAMIRecorder listens on a loopback port and forwards to upstream.
func startAMIRecorder(t *testing.T, upstream string) *amiRecorder {
	t.Helper()
	ln, err := net.Listen("tcp", freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	r := &amiRecorder{t: t, ln: ln, upstream: upstream}
	go r.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		r.cut()
	})
	return r
}

func (r *amiRecorder) addr() string { return r.ln.Addr().String() }

func (r *amiRecorder) accept() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.DialTimeout("tcp", r.upstream, 5*time.Second)
		if err != nil {
			_ = c.Close()
			continue
		}
		r.mu.Lock()
		r.conns = append(r.conns, c, up)
		r.mu.Unlock()
		go r.pipe(up, c, false)
		go r.pipe(c, up, true)
	}
}

// pipe copies src to dst and records the AMI blocks it carries.
func (r *amiRecorder) pipe(src, dst net.Conn, fromClient bool) {
	defer func() { _ = src.Close(); _ = dst.Close() }()
	br := bufio.NewReader(io.TeeReader(src, dst))
	if !fromClient { // the banner line: "Asterisk Call Manager/…"
		if _, err := br.ReadString('\n'); err != nil {
			return
		}
	}
	var cur [][2]string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if len(cur) > 0 {
				r.mu.Lock()
				r.blocks = append(r.blocks, amiBlock{at: time.Now(), fromClient: fromClient, headers: cur})
				r.mu.Unlock()
			}
			cur = nil
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue // a command's raw output line
		}
		cur = append(cur, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
	}
}

// cut closes the connections it carries (the owner reconnects and takes a
// new snapshot) and starts a new segment.
func (r *amiRecorder) cut() {
	r.mu.Lock()
	conns := r.conns
	r.conns, r.blocks, r.mark = nil, nil, time.Time{}
	r.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// markFlow says the snapshot is over: what the owner sends from now on is
// commands, what Asterisk sends is the flow.
func (r *amiRecorder) markFlow() {
	r.mu.Lock()
	r.mark = time.Now()
	r.mu.Unlock()
}

// snapshotActions counts the segment's actions other than Login and Ping.
func (r *amiRecorder) snapshotActions() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, b := range r.blocks {
		if b.fromClient && !skippedAction(b.get("Action")) {
			n++
		}
	}
	return n
}

// modelQuery reports whether an action sent during a flow is one of the
// model's own reads rather than a command from a REST call.
func modelQuery(name string) bool {
	switch strings.ToLower(name) {
	case "pjsipshowendpoint", "pjsipshowendpoints", "pjsipshowcontacts", "coreshowchannels", "queuestatus",
		"extensionstatelist", "parkinglots", "parkedcalls", "confbridgelist", "confbridgelistrooms", "voicemailuserslist", "dbgettree":
		return true
	}
	return false
}

func skippedAction(name string) bool {
	return strings.EqualFold(name, "Login") || strings.EqualFold(name, "Ping") || strings.EqualFold(name, "Logoff")
}

// transcript writes the current segment in ami/sim's transcript format:
// the snapshot's actions as expectations with the answers Asterisk gave,
// the events Asterisk sent before the flow, then the flow's events with
// their pauses (at least 20 ms, at most 1 s) and the model's own reads with
// Asterisk's answers where they came. Commands and pings sent during the
// flow and their answers are left out: a replay has no REST client, and the
// events they caused are kept.
func (r *amiRecorder) transcript(title string) string {
	r.mu.Lock()
	blocks := append([]amiBlock(nil), r.blocks...)
	mark := r.mark
	r.mu.Unlock()
	var sb strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(title), "\n") {
		sb.WriteString("# " + l + "\n")
	}
	sb.WriteString("# Captured from a real Asterisk 22.10.1 by TestRealPBX (cmd/ctiws/realpbx_test.go);\n")
	sb.WriteString("# do not edit: rerun the flow with -record (docs/real-pbx.md).\n\n# --- snapshot ---\n\n")
	write := func(b amiBlock) {
		for _, h := range b.headers {
			if strings.EqualFold(h[0], "ActionID") && b.fromClient {
				continue
			}
			fmt.Fprintf(&sb, "%s: %s\n", h[0], h[1])
		}
		sb.WriteString("\n")
	}
	answers := map[string][]amiBlock{}
	snapshot := map[string]bool{}
	queries := map[string]bool{} // the model's own reads during the flow
	for _, b := range blocks {
		switch {
		case !b.fromClient || skippedAction(b.get("Action")):
		case b.at.Before(mark):
			snapshot[b.get("ActionID")] = true
		case modelQuery(b.get("Action")):
			queries[b.get("ActionID")] = true
		}
	}
	for _, b := range blocks {
		if id := b.get("ActionID"); !b.fromClient && (snapshot[id] || queries[id]) {
			answers[id] = append(answers[id], b)
		}
	}
	for _, b := range blocks {
		if b.fromClient && snapshot[b.get("ActionID")] {
			write(b)
			for _, a := range answers[b.get("ActionID")] {
				write(a)
			}
		}
	}
	var last time.Time
	flow := false
	for _, b := range blocks {
		if b.fromClient && queries[b.get("ActionID")] {
			// A read the model makes on its own (a contact's details after
			// ContactStatus): the replay must answer it as Asterisk did.
			write(b)
			for _, a := range answers[b.get("ActionID")] {
				write(a)
			}
			continue
		}
		if b.fromClient || b.has("ActionID") || strings.HasPrefix(strings.ToLower(b.headers[0][0]), "response") {
			continue
		}
		if strings.EqualFold(b.get("Event"), "FullyBooted") && b.at.Before(mark) {
			continue
		}
		if !flow && !b.at.Before(mark) {
			flow = true
			sb.WriteString("# --- flow ---\n\n")
			last = b.at
		}
		if flow {
			if gap := b.at.Sub(last); gap >= 20*time.Millisecond {
				fmt.Fprintf(&sb, "#sleep %s\n\n", min(gap, time.Second).Round(time.Millisecond))
			}
			last = b.at
		}
		write(b)
	}
	return sb.String()
}

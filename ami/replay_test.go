package ami

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/staskobzar/goami2"
)

// A transcript (testdata/transcripts/*.ami) is a sequence of AMI blocks:
// "Key: Value" lines separated by blank lines, "#" comment lines, and the
// directives "#sleep <duration>" and "#drop". A block starting with
// "Action:" is an expectation; the Response blocks and blocks carrying an
// ActionID that follow it are its answer. Consecutive expectations may be
// met in any order; the blocks after them are sent once all were met.

type tHeader struct{ name, value string }

type tBlock struct {
	headers []tHeader
	sleep   time.Duration
	drop    bool
	comment bool
}

func (b tBlock) first() string {
	if len(b.headers) == 0 {
		return ""
	}
	return b.headers[0].name
}

func (b tBlock) get(name string) (string, bool) {
	for _, h := range b.headers {
		if strings.EqualFold(h.name, name) {
			return h.value, true
		}
	}
	return "", false
}

// render writes the block as an AMI message with ActionID replaced by id.
func (b tBlock) render(id string) string {
	var sb strings.Builder
	for _, h := range b.headers {
		v := h.value
		if strings.EqualFold(h.name, "ActionID") {
			v = id
		}
		sb.WriteString(h.name + ": " + v + "\r\n")
	}
	sb.WriteString("\r\n")
	return sb.String()
}

func readTranscript(path string) ([]tBlock, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []tBlock
	var cur tBlock
	flush := func() {
		if len(cur.headers) > 0 {
			out = append(out, cur)
		}
		cur = tBlock{}
	}
	for n, line := range strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n") {
		switch {
		case strings.TrimSpace(line) == "":
			flush()
		case strings.HasPrefix(line, "#sleep "):
			flush()
			d, err := time.ParseDuration(strings.TrimSpace(strings.TrimPrefix(line, "#sleep ")))
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", path, n+1, err)
			}
			out = append(out, tBlock{sleep: d})
		case strings.TrimSpace(line) == "#drop":
			flush()
			out = append(out, tBlock{drop: true})
		case strings.HasPrefix(line, "#"):
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				return nil, fmt.Errorf("%s:%d: line without colon", path, n+1)
			}
			cur.headers = append(cur.headers, tHeader{k, strings.TrimPrefix(v, " ")})
		}
	}
	flush()
	return out, nil
}

// expectation is an Action block and its answer blocks.
type expectation struct {
	action tBlock
	answer []tBlock
	met    bool
}

func (e *expectation) matches(m *goami2.Message) bool {
	if !strings.EqualFold(e.action.headers[0].value, field(m, "Action")) {
		return false
	}
	for _, h := range e.action.headers[1:] {
		if strings.EqualFold(h.name, "ActionID") {
			continue
		}
		if field(m, h.name) != h.value {
			return false
		}
	}
	return true
}

// replayServer plays a transcript to the clients that connect, one
// connection after the other (a #drop ends a connection).
type replayServer struct {
	t      testing.TB
	ln     net.Listener
	blocks []tBlock
	done   chan struct{} // closed when the transcript is exhausted
	conns  int           // connections the transcript uses
	mu     sync.Mutex
	extra  []string // unexpected actions (for diagnostics)
}

func newReplayServer(t testing.TB, path string) *replayServer {
	blocks, err := readTranscript(path)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &replayServer{t: t, ln: ln, blocks: blocks, done: make(chan struct{}), conns: 1}
	for _, b := range blocks {
		if b.drop {
			s.conns++
		}
	}
	t.Cleanup(func() { ln.Close() })
	go s.serve()
	return s
}

func (s *replayServer) addr() string { return s.ln.Addr().String() }

func (s *replayServer) serve() {
	pos := 0
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		if pos >= len(s.blocks) {
			// Transcript over: accept and hold, like an idle Asterisk
			// that never logs anyone in.
			go func() { <-time.After(time.Minute); c.Close() }()
			continue
		}
		pos = s.play(c, pos)
		c.Close()
		if pos >= len(s.blocks) {
			close(s.done)
		}
	}
}

// play runs one connection from blocks[pos] and returns where it stopped.
func (s *replayServer) play(c net.Conn, pos int) int {
	actions := make(chan *goami2.Message, 64)
	go func() {
		defer close(actions)
		fr := newFramer(c, maxMessageSize)
		for {
			f, err := fr.next()
			if err != nil {
				if errors.Is(err, errOversize) {
					continue
				}
				return
			}
			m, _, err := parseFrame(f)
			if err == nil {
				actions <- m
			}
		}
	}()
	w := bufio.NewWriter(c)
	send := func(s string) bool {
		w.WriteString(s)
		return w.Flush() == nil
	}
	if !send("Asterisk Call Manager/7.0.3\r\n") {
		return pos
	}
	login, ok := <-actions
	if !ok {
		return pos
	}
	send("Response: Success\r\nActionID: " + field(login, "ActionID") + "\r\nMessage: Authentication accepted\r\n\r\n" +
		"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 100\r\nLastReload: 100\r\nStatus: Fully Booted\r\n\r\n")
	var waiting []*goami2.Message // actions received before their expectation
	for pos < len(s.blocks) {
		b := s.blocks[pos]
		switch {
		case b.drop:
			return pos + 1
		case b.sleep > 0:
			time.Sleep(b.sleep)
			pos++
		case strings.EqualFold(b.first(), "Action"):
			var exps []*expectation
			for pos < len(s.blocks) && strings.EqualFold(s.blocks[pos].first(), "Action") {
				e := &expectation{action: s.blocks[pos]}
				pos++
				for pos < len(s.blocks) {
					nb := s.blocks[pos]
					_, hasID := nb.get("ActionID")
					if strings.EqualFold(nb.first(), "Response") || hasID {
						e.answer = append(e.answer, nb)
						pos++
						continue
					}
					break
				}
				exps = append(exps, e)
			}
			left := len(exps)
			handle := func(m *goami2.Message) bool {
				if strings.EqualFold(field(m, "Action"), "Ping") {
					return send("Response: Success\r\nActionID: " + field(m, "ActionID") + "\r\nPing: Pong\r\nTimestamp: 1.0\r\n\r\n")
				}
				for _, e := range exps {
					if !e.met && e.matches(m) {
						e.met = true
						left--
						var sb strings.Builder
						for _, a := range e.answer {
							sb.WriteString(a.render(field(m, "ActionID")))
						}
						return send(sb.String())
					}
				}
				if os.Getenv("REPLAY_DEBUG") != "" {
					fmt.Println("unmatched:", describeAction(m), "left", left)
				}
				waiting = append(waiting, m)
				return true
			}
			pending := waiting
			waiting = nil
			for _, m := range pending {
				handle(m)
			}
			for left > 0 {
				m, ok := <-actions
				if !ok {
					return pos
				}
				if !handle(m) {
					return pos
				}
			}
		default:
			if !send(b.render("")) {
				return pos
			}
			pos++
		}
	}
	for _, m := range waiting {
		s.mu.Lock()
		s.extra = append(s.extra, describeAction(m))
		s.mu.Unlock()
	}
	return pos
}

func describeAction(m *goami2.Message) string {
	var parts []string
	for _, h := range m.Headers() {
		if !strings.EqualFold(h.Name, "ActionID") {
			parts = append(parts, h.Name+"="+h.Value)
		}
	}
	return strings.Join(parts, " ")
}

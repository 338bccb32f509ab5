package sim

import (
	"bufio"
	"fmt"
	"github.com/ctiws/ctiws/internal/clip"
	"io"
	"os"
	"strings"
	"time"
)

// Transcript is a parsed .ami transcript: what a simulated Asterisk says
// and which actions it expects, in order.
//
// File format (LF or CRLF):
//   - Blocks are AMI messages written as "Key: Value" lines, separated by
//     one or more blank lines. Leading and trailing white space of a line is
//     ignored.
//   - Lines starting with "#" are comments, except the directives
//     "#sleep <duration>" (pause before the next block; a Go duration such
//     as 250ms) and "#drop" (close the connection). A directive also ends
//     the block before it.
//   - A block whose first header is "Action:" is an expectation. The blocks
//     right after it that are "Response:" blocks or carry an "ActionID:"
//     header are its answers. Consecutive expectations form one group run
//     (StepExpect) that clients may satisfy in any order.
//   - Every other block is sent as is (StepSend).
type Transcript struct {
	Steps []Step
}

// StepKind says what a Step does.
type StepKind int

// Step kinds.
const (
	// StepSend sends Message to the client.
	StepSend StepKind = iota
	// StepSleep pauses for Sleep.
	StepSleep
	// StepDrop closes the connection (after what was already sent).
	StepDrop
	// StepExpect waits until every expectation of Expect was met.
	StepExpect
)

// String returns the name of the kind.
func (k StepKind) String() string {
	switch k {
	case StepSend:
		return "send"
	case StepSleep:
		return "sleep"
	case StepDrop:
		return "drop"
	case StepExpect:
		return "expect"
	}
	return fmt.Sprintf("StepKind(%d)", int(k))
}

// Step is one step of a transcript.
type Step struct {
	Kind StepKind
	// Line is the 1-based line where the step starts in the source.
	Line int
	// Message is the block to send (StepSend).
	Message *Message
	// Sleep is the pause (StepSleep).
	Sleep time.Duration
	// Expect is the group run of expectations (StepExpect).
	Expect []Expectation
}

// Expectation is an expected action and the blocks answering it.
type Expectation struct {
	// Line is the line of the Action block.
	Line int
	// Action is the expected action; its headers other than ActionID must
	// match the client's (names and values case-insensitive).
	Action *Message
	// Answers are sent when the action arrives, their ActionID replaced by
	// the client's.
	Answers []*Message
}

// Matches reports whether the client action a satisfies the expectation.
func (e *Expectation) Matches(a *Message) bool {
	if !strings.EqualFold(strings.TrimSpace(e.Action.Name()), strings.TrimSpace(a.Get("Action"))) {
		return false
	}
	for _, h := range e.Action.Headers[1:] {
		if strings.EqualFold(h.Key, "ActionID") {
			continue
		}
		v, ok := a.Lookup(h.Key)
		if !ok || !strings.EqualFold(strings.TrimSpace(v), h.Value) {
			return false
		}
	}
	return true
}

// item is a block or a directive, before grouping.
type item struct {
	line  int
	block *Message
	kind  StepKind // StepSend for blocks
	sleep time.Duration
}

// maxTranscriptLine bounds one line of a transcript file.
const maxTranscriptLine = 1 << 20

// ParseTranscript reads a transcript (see Transcript for the format).
// Errors name the offending line.
func ParseTranscript(r io.Reader) (*Transcript, error) {
	items, err := scanTranscript(r)
	if err != nil {
		return nil, err
	}
	t := &Transcript{}
	for i := 0; i < len(items); {
		it := items[i]
		switch {
		case it.block == nil:
			t.Steps = append(t.Steps, Step{Kind: it.kind, Line: it.line, Sleep: it.sleep})
			i++
		case isAction(it.block):
			st := Step{Kind: StepExpect, Line: it.line}
			for i < len(items) && items[i].block != nil && isAction(items[i].block) {
				exp := Expectation{Line: items[i].line, Action: items[i].block}
				if strings.TrimSpace(exp.Action.Name()) == "" {
					return nil, fmt.Errorf("line %d: Action block without an action name", items[i].line)
				}
				i++
				for i < len(items) && items[i].block != nil && isAnswer(items[i].block) {
					exp.Answers = append(exp.Answers, items[i].block)
					i++
				}
				st.Expect = append(st.Expect, exp)
			}
			t.Steps = append(t.Steps, st)
		default:
			t.Steps = append(t.Steps, Step{Kind: StepSend, Line: it.line, Message: it.block})
			i++
		}
	}
	return t, nil
}

func isAction(m *Message) bool { return m.Kind() == "action" }

func isAnswer(m *Message) bool {
	if isAction(m) {
		return false
	}
	_, hasID := m.Lookup("ActionID")
	return m.Kind() == "response" || hasID
}

func scanTranscript(r io.Reader) ([]item, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxTranscriptLine)
	var (
		items []item
		cur   *Message
		start int
		n     int
	)
	flush := func() {
		if cur != nil {
			items = append(items, item{line: start, block: cur})
			cur = nil
		}
	}
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			flush()
		case strings.HasPrefix(line, "#"):
			word, arg, _ := strings.Cut(line[1:], " ")
			arg = strings.TrimSpace(arg)
			switch word {
			case "sleep":
				flush()
				if arg == "" {
					return nil, fmt.Errorf("line %d: #sleep needs a duration (e.g. #sleep 200ms)", n)
				}
				d, err := time.ParseDuration(arg)
				if err != nil {
					return nil, fmt.Errorf("line %d: #sleep: %w", n, err)
				}
				if d < 0 {
					return nil, fmt.Errorf("line %d: #sleep: negative duration %s", n, arg)
				}
				items = append(items, item{line: n, kind: StepSleep, sleep: d})
			case "drop":
				flush()
				if arg != "" {
					return nil, fmt.Errorf("line %d: #drop takes no argument, got %q", n, arg)
				}
				items = append(items, item{line: n, kind: StepDrop})
			}
		default:
			k, v, ok := splitHeader(line)
			if !ok {
				return nil, fmt.Errorf("line %d: expected \"Key: Value\", got %q", n, clip.String(line, 60))
			}
			if cur == nil {
				cur = &Message{}
				start = n
			}
			cur.Add(k, v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", n+1, err)
	}
	flush()
	return items, nil
}

// Format writes t back in transcript syntax; ParseTranscript of the output
// yields the same steps.
func (t *Transcript) Format(w io.Writer) error {
	bw := bufio.NewWriter(w)
	block := func(m *Message) {
		for _, h := range m.Headers {
			fmt.Fprintf(bw, "%s: %s\n", h.Key, h.Value)
		}
		bw.WriteString("\n")
	}
	for _, st := range t.Steps {
		switch st.Kind {
		case StepSend:
			block(st.Message)
		case StepSleep:
			fmt.Fprintf(bw, "#sleep %s\n\n", st.Sleep)
		case StepDrop:
			bw.WriteString("#drop\n\n")
		case StepExpect:
			for _, e := range st.Expect {
				block(e.Action)
				for _, a := range e.Answers {
					block(a)
				}
			}
		}
	}
	return bw.Flush()
}

// loadTranscript parses src: transcript contents when it contains a
// newline, else a file path.
func loadTranscript(src string) (*Transcript, error) {
	if strings.ContainsAny(src, "\n") {
		return ParseTranscript(strings.NewReader(src))
	}
	f, err := os.Open(src)
	if err != nil {
		return nil, fmt.Errorf("open transcript: %w", err)
	}
	defer f.Close()
	t, err := ParseTranscript(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return t, nil
}

// SplitConnections turns a transcript whose "#drop" lines end one AMI
// connection into one transcript per connection, for Config.Transcripts
// (connection n plays part n). Each part but the last keeps its "#drop".
func SplitConnections(transcript string) []string {
	var out []string
	for _, p := range strings.SplitAfter(transcript, "\n#drop\n") {
		if strings.TrimSpace(p) != "" {
			out = append(out, p)
		}
	}
	return out
}

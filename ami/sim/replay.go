package sim

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// replayer plays one transcript on one connection.
type replayer struct {
	c       *client
	t       *Transcript
	actions chan *Message
	// early holds actions that arrived before their expectation run was
	// reached (while sending or sleeping); they are consumed by that run.
	early []*Message
}

func newReplayer(c *client, t *Transcript) *replayer {
	return &replayer{c: c, t: t, actions: make(chan *Message, 64)}
}

// run plays the steps, then answers further actions with defaults until
// the connection ends. The server's own FullyBooted replaces a FullyBooted
// block sent before anything else, and Login expectations are ignored
// (the server handled Login).
func (r *replayer) run(ctx context.Context) {
	sentAny := false
	for i, st := range r.t.Steps {
		switch st.Kind {
		case StepSend:
			if !sentAny && strings.EqualFold(st.Message.Get("Event"), "FullyBooted") {
				sentAny = true
				continue
			}
			sentAny = true
			r.c.send(st.Message)
		case StepSleep:
			if !r.sleep(ctx, st.Sleep, i) {
				return
			}
		case StepDrop:
			r.ended()
			r.c.closeAfterFlush()
			return
		case StepExpect:
			if !r.expect(ctx, st.Expect, i) {
				return
			}
		}
	}
	r.ended()
	for {
		select {
		case a := <-r.actions:
			r.answerDefault(a)
		case <-r.c.done:
			return
		case <-ctx.Done():
			return
		}
	}
}

// ended counts the transcript as played to its end.
func (r *replayer) ended() {
	r.c.s.mu.Lock()
	r.c.s.replayEnds++
	r.c.s.mu.Unlock()
}

// sleep waits d while answering actions that the next run does not expect.
func (r *replayer) sleep(ctx context.Context, d time.Duration, at int) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return true
		case a := <-r.actions:
			r.idleAction(a, at)
		case <-r.c.done:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// idleAction handles an action that arrives outside an expectation run:
// kept for the next run if it expects it (and no earlier action already
// claimed that expectation), answered with the default otherwise.
func (r *replayer) idleAction(a *Message, at int) {
	for _, st := range r.t.Steps[at+1:] {
		if st.Kind != StepExpect {
			continue
		}
		claimed := make([]bool, len(st.Expect))
		for _, e := range r.early {
			if i := matchFree(st.Expect, claimed, e); i >= 0 {
				claimed[i] = true
			}
		}
		if matchFree(st.Expect, claimed, a) >= 0 {
			r.early = append(r.early, a)
			return
		}
		break
	}
	r.answerDefault(a)
}

// matchFree returns the first unclaimed, non-Login expectation matching a.
func matchFree(exps []Expectation, claimed []bool, a *Message) int {
	for i := range exps {
		if !claimed[i] && !isLogin(&exps[i]) && exps[i].Matches(a) {
			return i
		}
	}
	return -1
}

func isLogin(e *Expectation) bool {
	return strings.EqualFold(strings.TrimSpace(e.Action.Name()), "login")
}

// expect waits until every expectation of the run is met, answering each
// matching action with its blocks and any other action with the default.
func (r *replayer) expect(ctx context.Context, exps []Expectation, at int) bool {
	met := make([]bool, len(exps))
	left := 0
	for i := range exps {
		if isLogin(&exps[i]) {
			met[i] = true
		} else {
			left++
		}
	}
	handle := func(a *Message) {
		i := matchFree(exps, met, a)
		if i < 0 {
			r.answerDefault(a)
			return
		}
		met[i] = true
		left--
		id := a.Get("ActionID")
		out := make([]*Message, 0, len(exps[i].Answers))
		for _, ans := range exps[i].Answers {
			out = append(out, ans.withActionID(id))
		}
		r.c.s.mu.Lock()
		r.c.sendLocked(out...)
		r.c.s.mu.Unlock()
	}
	early := r.early
	r.early = nil
	for _, a := range early {
		handle(a)
	}
	for left > 0 {
		select {
		case a := <-r.actions:
			handle(a)
		case <-r.c.done:
			return false
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// answerDefault answers an action the transcript does not expect: Ping →
// pong; list actions → an empty, well-formed list (ConfbridgeList and
// ConfbridgeListRooms → "No active conferences.", DBGet → "Database entry
// not found", like an empty Asterisk); anything else → Response: Success.
func (r *replayer) answerDefault(a *Message) {
	id := a.Get("ActionID")
	name := strings.ToLower(strings.TrimSpace(a.Get("Action")))
	r.c.s.mu.Lock()
	if name != "ping" && name != "login" && len(r.c.s.unexpected) < maxUnexpected {
		r.c.s.unexpected = append(r.c.s.unexpected, describeAction(a))
	}
	r.c.s.mu.Unlock()
	var out []*Message
	switch name {
	case "ping":
		out = []*Message{pong(id)}
	case "confbridgelist", "confbridgelistrooms":
		out = []*Message{errorResponse(id, "No active conferences.")}
	case "dbget":
		out = []*Message{errorResponse(id, "Database entry not found")}
	default:
		if msg, complete, ok := listAction(name); ok {
			out = emptyList(id, msg, complete)
		} else {
			out = []*Message{successResponse(id, "")}
		}
	}
	r.c.s.mu.Lock()
	r.c.sendLocked(out...)
	r.c.s.mu.Unlock()
}

// pong is the answer to Ping.
func pong(id string) *Message {
	r := successResponse(id, "")
	r.Add("Ping", "Pong")
	now := time.Now()
	r.Add("Timestamp", strconv.FormatInt(now.Unix(), 10)+"."+pad6(now.Nanosecond()/1000))
	return r
}

// maxUnexpected bounds the unexpected actions kept (a long replay answers
// a client's periodic actions by default forever).
const maxUnexpected = 256

// describeAction writes an action as "Key=Value" pairs, ActionID left out.
func describeAction(a *Message) string {
	parts := make([]string, 0, len(a.Headers))
	for _, h := range a.Headers {
		if !strings.EqualFold(h.Key, "ActionID") {
			parts = append(parts, h.Key+"="+h.Value)
		}
	}
	return strings.Join(parts, " ")
}

package sim

import (
	"strings"
	"testing"
)

// events collects the events seen while doing an action.
func simDo(c *rawClient, id string, kv ...string) (answer, []*Message) {
	var evs []*Message
	a := c.do(id, func(m *Message) { evs = append(evs, m) }, kv...)
	return a, evs
}

func hasEvent(evs []*Message, match func(*Message) bool) bool {
	for _, e := range evs {
		if match(e) {
			return true
		}
	}
	return false
}

func TestSimRingAnswerHangup(t *testing.T) {
	_, addr := startServer(t, testConfig())
	c := dial(t, addr)
	c.login("proxycti", "proxycti")

	a, evs := simDo(c, "r1", "Action", "SimRing", "Exten", "201", "CallerNum", "0612345678", "CallerName", "Mario Rossi")
	linked := a.resp.Get("Linkedid")
	if a.resp.Get("Response") != "Success" || linked == "" {
		t.Fatalf("SimRing answer %s", a.resp)
	}
	if !hasEvent(evs, func(m *Message) bool {
		return m.Get("Event") == "Newstate" && strings.HasPrefix(m.Get("Channel"), "PJSIP/201-") &&
			m.Get("ChannelStateDesc") == "Ringing" && m.Get("ConnectedLineNum") == "0612345678" && m.Get("ConnectedLineName") == "Mario Rossi"
	}) {
		t.Fatalf("no ringing Newstate of 201 showing the caller in %v", evs)
	}

	// Answered elsewhere: 202 answers, 201's leg ends with cause 26.
	a, evs = simDo(c, "a1", "Action", "SimAnswer", "Linkedid", linked, "Exten", "202")
	if a.resp.Get("Response") != "Success" {
		t.Fatalf("SimAnswer answer %s", a.resp)
	}
	if !hasEvent(evs, func(m *Message) bool {
		return m.Get("Event") == "Hangup" && strings.HasPrefix(m.Get("Channel"), "PJSIP/201-") && m.Get("Cause") == "26"
	}) {
		t.Fatalf("201's leg did not end as answered elsewhere: %v", evs)
	}
	if !hasEvent(evs, func(m *Message) bool {
		return m.Get("Event") == "BridgeEnter" && strings.HasPrefix(m.Get("Channel"), "PJSIP/202-")
	}) {
		t.Fatalf("202 not bridged: %v", evs)
	}

	a, evs = simDo(c, "h1", "Action", "SimHangup", "Linkedid", linked)
	if a.resp.Get("Response") != "Success" {
		t.Fatalf("SimHangup answer %s", a.resp)
	}
	hangups := 0
	for _, e := range evs {
		if e.Get("Event") == "Hangup" {
			hangups++
		}
	}
	if hangups != 2 {
		t.Fatalf("want 2 Hangup events (caller and 202), got %d: %v", hangups, evs)
	}
	a, _ = simDo(c, "h2", "Action", "SimHangup", "Linkedid", linked)
	if a.resp.Get("Response") != "Error" {
		t.Fatalf("second SimHangup answer %s", a.resp)
	}
}

func TestSimControlErrors(t *testing.T) {
	_, addr := startServer(t, testConfig())
	c := dial(t, addr)
	c.login("proxycti", "proxycti")
	tests := []struct {
		name string
		kv   []string
		msg  string
	}{
		{"unknown exten", []string{"Action", "SimRing", "Exten", "999999", "CallerNum", "1"}, "not an extension"},
		{"no caller", []string{"Action", "SimRing", "Exten", "201"}, "CallerNum"},
		{"bad caller", []string{"Action", "SimRing", "Exten", "201", "CallerNum", "12a"}, "CallerNum"},
		{"answer unknown", []string{"Action", "SimAnswer", "Linkedid", "nope"}, "no ringing call"},
		{"hangup unknown", []string{"Action", "SimHangup", "Linkedid", "nope"}, "no call"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := simDo(c, "e"+string(rune('a'+i)), tt.kv...)
			if a.resp.Get("Response") != "Error" || !strings.Contains(a.resp.Get("Message"), tt.msg) {
				t.Fatalf("answer %s, want error containing %q", a.resp, tt.msg)
			}
		})
	}
}

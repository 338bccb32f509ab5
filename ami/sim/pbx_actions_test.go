package sim

import (
	"testing"
	"time"
)

// waitEvent reads events until one satisfies ok (or fails after 5 s).
func (c *rawClient) waitEvent(what string, ok func(*Message) bool) *Message {
	c.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if m := c.read(); ok(m) {
			return m
		}
	}
	c.t.Fatalf("no %s", what)
	return nil
}

// TestActionErrors: call control actions with missing or unknown
// arguments get Asterisk's error answers and change nothing.
func TestActionErrors(t *testing.T) {
	_, addr := startServer(t, testConfig())
	c := dial(t, addr)
	c.login("proxycti", "proxycti")
	for _, tt := range []struct {
		kv   []string
		want string
	}{
		{[]string{"Action", "Originate", "Exten", "202"}, "Channel not specified"},
		{[]string{"Action", "Originate", "Channel", "PJSIP201", "Context", "from-internal", "Exten", "202", "Priority", "1", "Async", "true"}, "Invalid channel"},
		{[]string{"Action", "Originate", "Channel", "PJSIP/201", "Exten", "202", "Async", "true"}, "Originate with 'Exten' requires 'Context' and 'Priority'"},
		{[]string{"Action", "Originate", "Channel", "PJSIP/201", "Context", "from-internal", "Exten", "x;y", "Priority", "1", "Async", "true"}, "Extension does not exist."},
		{[]string{"Action", "Hangup", "Channel", "PJSIP/201-00000099"}, "No such channel"},
		{[]string{"Action", "Hangup"}, "No channel specified"},
		{[]string{"Action", "Redirect", "Channel", "PJSIP/201-00000099", "Context", "c", "Exten", "1", "Priority", "1"}, "Channel does not exist: PJSIP/201-00000099"},
		{[]string{"Action", "BlindTransfer", "Channel", "PJSIP/201-00000099", "Exten", "203"}, "Channel specified does not exist"},
		{[]string{"Action", "Atxfer", "Channel", "PJSIP/201-00000099", "Exten", "203#"}, "Channel specified does not exist"},
		{[]string{"Action", "Park", "Channel", "PJSIP/201-00000099"}, "Channel does not exist: PJSIP/201-00000099"},
		{[]string{"Action", "MixMonitor", "Channel", "PJSIP/201-00000099", "File", "x.wav"}, "No such channel"},
		{[]string{"Action", "StopMixMonitor", "Channel", "PJSIP/201-00000099"}, "No such channel"},
		{[]string{"Action", "MixMonitorMute", "Channel", "PJSIP/201-00000099", "State", "1"}, "No direction specified. Must be read, write or both"},
		{[]string{"Action", "Bridge", "Channel1", "PJSIP/201-00000099"}, "Missing channel parameter in request"},
	} {
		a := c.do("e", nil, tt.kv...)
		if a.resp.Get("Response") != "Error" || a.resp.Get("Message") != tt.want {
			t.Errorf("%v: %s, want error %q", tt.kv, a.resp, tt.want)
		}
	}
}

// TestOriginateRingsTheCallee: an Async Originate from an extension rings
// that phone, answers, reports OriginateResponse with the channel's
// Uniqueid, then dials the callee; an unreachable endpoint fails.
func TestOriginateRingsTheCallee(t *testing.T) {
	cfg := testConfig()
	cfg.AvgRingTime = 200 * time.Millisecond
	_, addr := startServer(t, cfg)
	c := dial(t, addr)
	c.login("proxycti", "proxycti")
	a := c.do("o1", nil, "Action", "Originate", "Channel", "PJSIP/201", "Context", "from-internal", "Exten", "202",
		"Priority", "1", "CallerID", `"Alice" <201>`, "Async", "true")
	if a.resp.Get("Response") != "Success" || a.resp.Get("Message") != "Originate successfully queued" {
		t.Fatalf("answer %s", a.resp)
	}
	or := c.waitEvent("OriginateResponse", func(m *Message) bool { return m.Get("Event") == "OriginateResponse" })
	if or.Get("ActionID") != "o1" || or.Get("Response") != "Success" || or.Get("Reason") != "4" || or.Get("Uniqueid") == "" ||
		or.Get("Exten") != "202" || or.Get("CallerIDNum") != "201" || or.Get("CallerIDName") != "Alice" {
		t.Fatalf("OriginateResponse %s", or)
	}
	db := c.waitEvent("DialBegin to 202", func(m *Message) bool { return m.Get("Event") == "DialBegin" })
	if db.Get("Uniqueid") != or.Get("Uniqueid") || db.Get("DestChannel")[:10] != "PJSIP/202-" {
		t.Fatalf("DialBegin %s after %s", db, or)
	}
	c.do("o2", nil, "Action", "Originate", "Channel", "PJSIP/999", "Context", "from-internal", "Exten", "202", "Priority", "1", "Async", "true")
	fail := c.waitEvent("failed OriginateResponse", func(m *Message) bool {
		return m.Get("Event") == "OriginateResponse" && m.Get("ActionID") == "o2"
	})
	if fail.Get("Response") != "Failure" || fail.Get("Reason") != "0" || fail.Get("Uniqueid") != "<unknown>" {
		t.Fatalf("OriginateResponse %s", fail)
	}
}

// TestOriginateUnanswered: a phone listed in Unanswered rings until the
// Originate's Timeout; then OriginateResponse reports no answer (3).
func TestOriginateUnanswered(t *testing.T) {
	cfg := testConfig()
	cfg.AvgRingTime = 100 * time.Millisecond
	cfg.Unanswered = []string{"201"}
	_, addr := startServer(t, cfg)
	c := dial(t, addr)
	c.login("proxycti", "proxycti")
	start := time.Now()
	c.do("o1", nil, "Action", "Originate", "Channel", "PJSIP/201", "Context", "from-internal", "Exten", "202",
		"Priority", "1", "Timeout", "700", "Async", "true")
	or := c.waitEvent("OriginateResponse", func(m *Message) bool { return m.Get("Event") == "OriginateResponse" })
	if or.Get("ActionID") != "o1" || or.Get("Response") != "Failure" || or.Get("Reason") != "3" {
		t.Fatalf("OriginateResponse %s, want a failure with reason 3", or)
	}
	if took := time.Since(start); took < 700*time.Millisecond {
		t.Fatalf("OriginateResponse after %v, before the 700 ms timeout", took)
	}
}

package sim

import (
	"testing"
	"time"

	"github.com/staskobzar/goami2"
)

// TestGoami2ParsesOutput: every event and answer the simulator writes is
// accepted by goami2.Parse with all its headers.
func TestGoami2ParsesOutput(t *testing.T) {
	cfg := fastConfig(3)
	cfg.StartPaused = true
	s, addr := startServer(t, cfg)
	c := dial(t, addr)
	c.login("proxycti", "proxycti")
	s.SetPaused(false)
	time.Sleep(500 * time.Millisecond)
	s.SetPaused(true)
	var msgs []*Message
	for _, act := range []string{"CoreShowChannels", "QueueStatus", "PJSIPShowEndpoints", "PJSIPShowContacts", "ExtensionStateList", "DeviceStateList", "VoicemailUsersList", "PJSIPShowRegistrationsOutbound", "ParkedCalls", "Parkinglots"} {
		a := c.do("x", func(m *Message) { msgs = append(msgs, m) }, "Action", act)
		msgs = append(msgs, a.resp, a.complete)
		msgs = append(msgs, a.items...)
	}
	a := c.do("y", nil, "Action", "PJSIPShowEndpoint", "Endpoint", "trunk1")
	msgs = append(msgs, a.items...)
	kinds := map[string]bool{}
	for _, m := range msgs {
		if m == nil {
			continue
		}
		pm, err := goami2.Parse(m.String())
		if err != nil {
			t.Fatalf("goami2 cannot parse:\n%s\n%v", m, err)
		}
		if pm.Len() != len(m.Headers) {
			t.Fatalf("goami2 headers %d vs %d: %s", pm.Len(), len(m.Headers), m)
		}
		kinds[m.Name()] = true
	}
	t.Log(len(msgs), len(kinds))
}

package sim

import "testing"

// TestReceivedActions: the server remembers what clients sent, in order,
// with the login secret redacted, and a cursor returns only newer ones.
func TestReceivedActions(t *testing.T) {
	s, addr := startServer(t, testConfig())
	c := dial(t, addr)
	c.login("proxycti", "proxycti")
	msgs, next, lost := s.ReceivedActions(0)
	if len(msgs) != 1 || msgs[0].Get("Action") != "Login" || msgs[0].Get("Secret") != "********" || lost != 0 {
		t.Fatalf("after login: %v (lost %d)", msgs, lost)
	}
	c.do("p1", nil, "Action", "DBPut", "Family", "CF", "Key", "201", "Val", "333")
	c.do("p2", nil, "Action", "Ping")
	msgs, next2, _ := s.ReceivedActions(next)
	if len(msgs) != 2 || msgs[0].Get("Action") != "DBPut" || msgs[0].Get("Val") != "333" || msgs[1].Get("Action") != "Ping" {
		t.Fatalf("since %d: %v", next, msgs)
	}
	if next2 != next+2 {
		t.Fatalf("next = %d, want %d", next2, next+2)
	}
	if msgs, _, _ := s.ReceivedActions(next2); len(msgs) != 0 {
		t.Fatalf("nothing new expected, got %v", msgs)
	}
}

// TestReceivedActionsWrap: past the log size the oldest are reported lost.
func TestReceivedActionsWrap(t *testing.T) {
	s := &Server{}
	for i := 0; i < receivedLogSize+10; i++ {
		s.received.add(&Message{Headers: []Header{{"Action", "Ping"}}})
	}
	msgs, next, lost := s.ReceivedActions(0)
	if len(msgs) != receivedLogSize || lost != 10 || next != receivedLogSize+10 {
		t.Fatalf("len %d lost %d next %d", len(msgs), lost, next)
	}
}

package sim

import (
	"testing"
)

func replayConfig() Config {
	return Config{
		Username:    "proxycti",
		Secret:      "proxycti",
		Transcripts: []string{"testdata/replay-first.ami", "testdata/replay-second.ami"},
	}
}

func TestReplay(t *testing.T) {
	_, addr := startServer(t, replayConfig())

	// Connection 1: the group run is satisfied in reverse order; unexpected
	// actions get defaults; the Hangup comes only after both answers; then
	// the server drops the connection.
	c := dial(t, addr)
	c.login("proxycti", "proxycti")
	tests := []struct {
		name   string
		action []string
		check  func(t *testing.T, a answer)
	}{
		{"unexpected ping", []string{"Action", "Ping"}, func(t *testing.T, a answer) {
			if a.resp.Get("Ping") != "Pong" {
				t.Fatalf("ping = %s", a.resp)
			}
		}},
		{"unexpected list", []string{"Action", "QueueStatus"}, func(t *testing.T, a answer) {
			checkList(t, a, "a-unexpected list", "", "QueueStatusComplete")
			if len(a.items) != 0 {
				t.Fatalf("items = %v", a.items)
			}
		}},
		{"unexpected other", []string{"Action", "Originate", "Channel", "PJSIP/201"}, func(t *testing.T, a answer) {
			if a.resp.Get("Response") != "Success" {
				t.Fatalf("answer = %s", a.resp)
			}
		}},
		{"unexpected confbridge", []string{"Action", "ConfbridgeList"}, func(t *testing.T, a answer) {
			if a.resp.Get("Message") != "No active conferences." {
				t.Fatalf("answer = %s", a.resp)
			}
		}},
		{"expected but header differs", []string{"Action", "DBGet", "Family", "DND", "Key", "202"}, func(t *testing.T, a answer) {
			if a.resp.Get("Response") != "Error" {
				t.Fatalf("answer = %s", a.resp)
			}
		}},
		{"expected DBGet", []string{"Action", "dbget", "Family", "DND", "Key", "201"}, func(t *testing.T, a answer) {
			checkList(t, a, "a-expected DBGet", "DBGetResponse", "DBGetComplete")
			if a.items[0].Get("Val") != "YES" {
				t.Fatalf("item = %s", a.items[0])
			}
			if len(a.before) != 0 {
				t.Fatalf("events before the run completed: %v", a.before)
			}
		}},
		{"expected CoreShowChannels", []string{"Action", "CoreShowChannels"}, func(t *testing.T, a answer) {
			checkList(t, a, "a-expected CoreShowChannels", "CoreShowChannel", "CoreShowChannelsComplete")
			if len(a.items) != 1 || a.items[0].Get("Channel") != "PJSIP/201-00000001" {
				t.Fatalf("items = %v", a.items)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, c.do("a-"+tt.name, nil, tt.action...))
		})
	}
	if m := c.read(); m.Get("Event") != "Hangup" || m.Get("Cause-txt") != "Normal Clearing" {
		t.Fatalf("after the run: %s", m)
	}
	c.expectEOF()

	// Connections 2 and 3 play transcript 2 (the last one repeats). The
	// action is sent early, before the run is reached: it is kept for it.
	for i := range 2 {
		c := dial(t, addr)
		c.login("proxycti", "proxycti")
		a := c.do("again", nil, "Action", "CoreShowChannels")
		checkList(t, a, "again", "", "CoreShowChannelsComplete")
		if len(a.items) != 0 {
			t.Fatalf("conn %d: items = %v", i+2, a.items)
		}
		if m := c.read(); m.Get("Event") != "DeviceStateChange" || m.Get("State") != "NOT_INUSE" {
			t.Fatalf("conn %d: %s", i+2, m)
		}
		// Exhausted: defaults.
		if a := c.do("p", nil, "Action", "Ping"); a.resp.Get("Ping") != "Pong" {
			t.Fatalf("ping = %s", a.resp)
		}
	}
}

func TestReplayEarlyActionDuringSleep(t *testing.T) {
	cfg := replayConfig()
	cfg.Transcripts = []string{"Event: Hello\n\n#sleep 200ms\n\nAction: CoreShowChannels\n\nResponse: Success\nActionID: z\nEventList: start\n\nEvent: CoreShowChannelsComplete\nActionID: z\nEventList: Complete\nListItems: 0\n\nEvent: After\n"}
	_, addr := startServer(t, cfg)
	c := dial(t, addr)
	c.login("proxycti", "proxycti")
	if m := c.read(); m.Get("Event") != "Hello" {
		t.Fatalf("got %s", m)
	}
	// During the sleep: Ping is answered at once, CoreShowChannels waits
	// for its expectation.
	if a := c.do("p", nil, "Action", "Ping"); a.resp.Get("Ping") != "Pong" {
		t.Fatalf("ping = %s", a.resp)
	}
	a := c.do("early", nil, "Action", "CoreShowChannels")
	checkList(t, a, "early", "", "CoreShowChannelsComplete")
	if m := c.read(); m.Get("Event") != "After" {
		t.Fatalf("got %s", m)
	}
}

func TestReplayBadTranscript(t *testing.T) {
	cfg := replayConfig()
	cfg.Transcripts = []string{"Event: X\nno colon here\n"}
	s := New(cfg, nil)
	defer s.Close()
	if _, err := s.Listen(t.Context(), "127.0.0.1:0"); err == nil {
		t.Fatal("Listen accepted a broken transcript")
	}
}

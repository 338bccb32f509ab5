package ws_test

import (
	"encoding/json"
	"testing"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/pbx"
)

// extension 202 (bob's) talking with an external number, once through a
// queue and once directly.
func testExtension(exten, owner string) pbx.Extension {
	ch := func(num string) *pbx.Channel {
		return &pbx.Channel{Type: "source", Channel: "PJSIP/trunk-0001", CallerNum: num, CallerName: "ACME", BridgedNum: exten, BridgedName: "X", ChannelStatus: "up"}
	}
	return pbx.Extension{
		Exten: exten, Name: owner, Username: owner, Status: "busy", ChanType: "pjsip", CF: "0721000111",
		Conversations: pbx.Conversations{
			"q": {ID: "q", Owner: exten, ChSource: ch("0721405516"), ThroughQueue: true, QueueID: "401", CounterpartNum: "0721405516", CounterpartName: "ACME", Direction: "in", Recording: "false"},
			"d": {ID: "d", Owner: exten, ChSource: ch("0549111222"), CounterpartNum: "0549111222", CounterpartName: "Shop", Direction: "in", Recording: "false"},
		},
	}
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeExt(t *testing.T, raw json.RawMessage) pbx.Extension {
	t.Helper()
	var e pbx.Extension
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestExtenUpdatePrivacyPerRecipient(t *testing.T) {
	e := newEnv(t)
	alice := e.login("t1", "alice", "desktop")
	bob := e.login("t1", "bob", "desktop")
	carol := e.login("t1", "carol", "desktop")
	dave := e.login("t1", "dave", "desktop")
	erin := e.login("t1", "erin", "desktop")
	all := []*sock{alice, bob, carol, dave, erin}
	e.settle("t1", all...)
	reset(all...)

	ext := testExtension("202", "bob")
	e.publish("t1", cluster.Event{Name: pbx.EvExtenChanged, Key: "exten/202", Data: mustJSON(t, ext)})
	e.settle("t1", all...)

	tests := []struct {
		name                 string
		s                    *sock
		queueNum, dirNum, cf string
	}{
		{"alice: no privacy", alice, "0721405516", "0549111222", "0721000111"},
		{"bob: owner sees clear", bob, "0721405516", "0549111222", "0721000111"},
		{"carol: privacy + admin queues", carol, "0721405516", "0549111xxx", "0721000xxx"},
		{"dave: privacy", dave, "0721405xxx", "0549111xxx", "0721000xxx"},
		{"erin: no profile means privacy", erin, "0721405xxx", "0549111xxx", "0721000xxx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.s.events("extenUpdate")
			if len(got) != 1 {
				t.Fatalf("%d extenUpdate, want 1", len(got))
			}
			x := decodeExt(t, got[0].args[0])
			if x.Conversations["q"].CounterpartNum != tt.queueNum || x.Conversations["d"].CounterpartNum != tt.dirNum || x.CF != tt.cf {
				t.Fatalf("queue %q direct %q cf %q", x.Conversations["q"].CounterpartNum, x.Conversations["d"].CounterpartNum, x.CF)
			}
			if tt.dirNum != "0549111222" && x.Conversations["d"].CounterpartName != "xxx" {
				t.Fatalf("name not masked: %q", x.Conversations["d"].CounterpartName)
			}
			mp := tt.s.events("userMainPresenceUpdate")
			if len(mp) != 1 {
				t.Fatalf("%d userMainPresenceUpdate, want 1", len(mp))
			}
			var p struct {
				MainPresence struct{ Username, Status, To string } `json:"mainPresence"`
			}
			_ = json.Unmarshal(mp[0].args[0], &p)
			if p.MainPresence.Username != "bob" || p.MainPresence.Status != "callforward" || p.MainPresence.To != "0721000111" {
				t.Fatalf("main presence %+v", p.MainPresence)
			}
		})
	}
}

func TestRoomEvents(t *testing.T) {
	e := newEnv(t)
	alice := e.login("t1", "alice", "desktop") // trunks, admin queues, parkings, qmanager; clear
	bob := e.login("t1", "bob", "desktop")     // queues (privacy), parkings (privacy)
	carol := e.login("t1", "carol", "desktop") // trunks (privacy), admin queues (clear)
	dave := e.login("t1", "dave", "desktop")   // nothing
	all := []*sock{alice, bob, carol, dave}
	e.settle("t1", all...)
	reset(all...)

	q := pbx.Queue{Name: "Support", Queue: "401", WaitingCallers: pbx.Map[pbx.WaitingCaller]{"c": {ID: "c", Num: "0721405516", Name: "ACME", Queue: "401", Channel: "c", Position: "1"}}}
	tr := pbx.Trunk{Name: "Provider", Exten: "trunk1", Status: "online", Conversations: pbx.TrunkConversations{"x": {ID: "x", ExternalNum: "0721405516", ExternalName: "ACME", InternalNum: "201"}}}
	pk := pbx.Parking{Name: "71", Parking: "71", ParkedCaller: pbx.ParkedCaller{Num: "0721405516", Name: "ACME", Channel: "PJSIP/t-1", Parking: "71"}}
	m := pbx.QueueMember{Type: "dynamic", Queue: "401", Member: "203", LoggedIn: true}
	e.publish("t1",
		cluster.Event{Name: pbx.EvQueueChanged, Key: "queue/401", Data: mustJSON(t, q)},
		cluster.Event{Name: pbx.EvTrunkChanged, Key: "trunk/trunk1", Data: mustJSON(t, tr)},
		cluster.Event{Name: pbx.EvParkingChanged, Key: "parking/71", Data: mustJSON(t, pk)},
		cluster.Event{Name: pbx.EvQueueMemberChanged, Key: "queuemember/401/203", Data: mustJSON(t, m)},
	)
	e.settle("t1", all...)

	field := func(s *sock, ev, path string) string {
		got := s.events(ev)
		if len(got) != 1 {
			return "<none>"
		}
		var v map[string]any
		_ = json.Unmarshal(got[0].args[0], &v)
		switch path {
		case "queue":
			return v["waitingCallers"].(map[string]any)["c"].(map[string]any)["num"].(string)
		case "trunk":
			return v["conversations"].(map[string]any)["x"].(map[string]any)["externalNum"].(string)
		case "parking":
			return v["parkedCaller"].(map[string]any)["num"].(string)
		case "member":
			return v["member"].(string)
		}
		return ""
	}
	tests := []struct {
		s                             *sock
		queue, trunk, parking, member string
	}{
		{alice, "0721405516", "0721405516", "0721405516", "203"},
		{bob, "0721405xxx", "<none>", "0721405xxx", "203"},
		{carol, "0721405516", "0721405xxx", "<none>", "203"},
		{dave, "<none>", "<none>", "<none>", "<none>"},
	}
	for i, tt := range tests {
		got := []string{field(tt.s, "queueUpdate", "queue"), field(tt.s, "trunkUpdate", "trunk"), field(tt.s, "parkingUpdate", "parking"), field(tt.s, "queueMemberUpdate", "member")}
		want := []string{tt.queue, tt.trunk, tt.parking, tt.member}
		for j := range got {
			if got[j] != want[j] {
				t.Errorf("socket %d event %d: got %s, want %s", i, j, got[j], want[j])
			}
		}
	}
}

func TestUserTargetedEvents(t *testing.T) {
	e := newEnv(t)
	alice := e.login("t1", "alice", "desktop")
	alice2 := e.login("t1", "alice", "mobile")
	bob := e.login("t1", "bob", "desktop")
	all := []*sock{alice, alice2, bob}
	e.settle("t1", all...)
	reset(all...)
	e.publish("t1",
		cluster.Event{Name: pbx.EvExtenDialing, Data: json.RawMessage(`{"dialingExten":"201","callerIdentity":{"numCalled":"201","callerNum":"0721405516","callerName":"ACME"},"callerHasConf":false,"channel":"PJSIP/t-1"}`)},
		cluster.Event{Name: pbx.EvExtenConnected, Data: json.RawMessage(`{"num1":"202","num2":"201","direction":"in","uniqueid":"1.2","linkedid":"1.1","throughTrunk":false}`)},
		cluster.Event{Name: pbx.EvExtenHangup, Data: json.RawMessage(`{"cause":"normal_clearing","callerNum":"201","channelExten":"91201","calledNum":"202"}`)},
		cluster.Event{Name: pbx.EvVoicemailChanged, Key: "voicemail/202", Data: json.RawMessage(`{"voicemail":"202","new":"2","old":"5"}`)},
		cluster.Event{Name: pbx.EvConfBridgeConfChanged, Key: "conf/201", Data: json.RawMessage(`{"id":"201","users":{"201":{"id":"1","name":"A","owner":true,"muted":false,"extenId":"201"},"202":{"id":"2","name":"B","owner":false,"muted":true,"extenId":"202"},"2010":{"id":"3","name":"A2","owner":false,"muted":false,"extenId":"91201"}}}`)},
		cluster.Event{Name: pbx.EvConfBridgeConfEnd, Key: "conf/201", Del: true, Data: json.RawMessage(`{"id":"201"}`)},
	)
	e.settle("t1", all...)
	count := func(s *sock, name string) int { return len(s.events(name)) }
	tests := []struct {
		name  string
		s     *sock
		event string
		want  int
	}{
		{"ringing to owner desktop", alice, "extenRinging", 1},
		{"ringing to owner mobile", alice2, "extenRinging", 1},
		{"ringing not to others", bob, "extenRinging", 0},
		{"connected to num1 owner", bob, "extenConnected", 1},
		{"conv connected to num1 owner", bob, "extenConvConnected", 1},
		{"connected not to num2", alice, "extenConnected", 0},
		{"hangup by secondary extension", alice, "extenHangup", 1},
		{"hangup not to bob", bob, "extenHangup", 0},
		{"voicemail to owner", bob, "updateNewVoiceMessages", 1},
		{"voicemail counter to owner", bob, "newVoiceMessageCounter", 1},
		{"voicemail counter not broadcast", alice, "newVoiceMessageCounter", 0},
		{"conference once per user (alice has 2 participant extensions)", alice, "confBridgeUpdate", 1},
		{"legacy meetme once", alice, "meetmeConfUpdate", 1},
		{"conference to participant", bob, "confBridgeUpdate", 1},
		{"conference end to participant", bob, "confBridgeEnd", 1},
		{"legacy meetme end", alice, "meetmeConfEnd", 1},
	}
	for _, tt := range tests {
		if got := count(tt.s, tt.event); got != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, got, tt.event, tt.want)
		}
	}
	r := alice.events("extenRinging")
	if len(r) == 1 && string(r[0].args[0]) != `{"numCalled":"201","callerNum":"0721405516","callerName":"ACME","callerHasConf":false}` {
		t.Errorf("extenRinging payload %s", r[0].args[0])
	}
	v := bob.events("updateNewVoiceMessages")
	if len(v) == 1 && string(v[0].args[0]) != `{"202":{"inbox":"2","old":"5"}}` {
		t.Errorf("updateNewVoiceMessages payload %s", v[0].args[0])
	}
}

func TestTenantsNeverSeeEachOther(t *testing.T) {
	e := newEnv(t, "ta", "tb")
	a := e.login("ta", "alice", "desktop")
	b := e.login("tb", "alice", "desktop")
	e.settle("ta", a)
	e.settle("tb", b)
	reset(a, b)
	e.publish("ta", cluster.Event{Name: pbx.EvExtenChanged, Key: "exten/201", Data: mustJSON(t, testExtension("201", "alice"))})
	e.publish("ta", cluster.Event{Name: pbx.EvExtenDialing, Data: json.RawMessage(`{"dialingExten":"201","callerIdentity":{"numCalled":"201","callerNum":"1","callerName":"x"}}`)})
	e.settle("ta", a)
	e.settle("tb", b)
	if len(a.events("extenUpdate")) != 1 || len(a.events("extenRinging")) != 1 {
		t.Fatalf("tenant a missed its events: %d %d", len(a.events("extenUpdate")), len(a.events("extenRinging")))
	}
	for _, r := range b.ev {
		if r.name != "testMarker" {
			t.Fatalf("tenant b received %s from tenant a", r.name)
		}
	}
	// A token of tenant ta does not work on tenant tb.
	if _, err := e.backend.Tokens.Check(t.Context(), "tb", "alice", "x", 0); err != nil {
		t.Fatal(err)
	}
}

// Asterisk 22 ends a conference after its last participant left: the last
// update has no users, and the end still reaches every user that was in it,
// once (the owner, 201, never joined here).
func TestConferenceEndAfterLastLeave(t *testing.T) {
	e := newEnv(t)
	alice := e.login("t1", "alice", "desktop")
	bob := e.login("t1", "bob", "desktop")
	carol := e.login("t1", "carol", "desktop")
	all := []*sock{alice, bob, carol}
	e.settle("t1", all...)
	reset(all...)
	e.publish("t1",
		cluster.Event{Name: pbx.EvConfBridgeConfChanged, Key: "conf/201", Data: json.RawMessage(`{"id":"201","users":{"202":{"id":"201-202","name":"B","owner":false,"muted":false,"extenId":"202"}}}`)},
		cluster.Event{Name: pbx.EvConfBridgeConfChanged, Key: "conf/201", Data: json.RawMessage(`{"id":"201","users":{}}`)},
		cluster.Event{Name: pbx.EvConfBridgeConfEnd, Key: "conf/201", Del: true, Data: json.RawMessage(`{"id":"201"}`)},
	)
	e.settle("t1", all...)
	tests := []struct {
		name  string
		s     *sock
		event string
		want  int
	}{
		{"participant gets the end", bob, "confBridgeEnd", 1},
		{"participant gets the legacy end", bob, "meetmeConfEnd", 1},
		{"owner gets the end", alice, "confBridgeEnd", 1},
		{"others do not", carol, "confBridgeEnd", 0},
	}
	for _, tt := range tests {
		if got := len(tt.s.events(tt.event)); got != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, got, tt.event, tt.want)
		}
	}
}

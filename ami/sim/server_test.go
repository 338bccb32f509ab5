package sim

import (
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLogin(t *testing.T) {
	_, addr := startServer(t, testConfig())
	tests := []struct {
		name, user, secret string
		ok                 bool
	}{
		{"ok", "proxycti", "proxycti", true},
		{"bad secret", "proxycti", "wrong", false},
		{"bad user", "admin", "proxycti", false},
		{"empty", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, addr)
			c.send("Action", "Login", "ActionID", "L1", "Username", tt.user, "Secret", tt.secret, "Events", "on")
			r := c.read()
			if !tt.ok {
				if r.Get("Response") != "Error" || r.Get("Message") != "Authentication failed" || r.Get("ActionID") != "L1" {
					t.Fatalf("answer = %s", r)
				}
				c.expectEOF()
				return
			}
			if r.Get("Response") != "Success" || r.Get("Message") != "Authentication accepted" {
				t.Fatalf("answer = %s", r)
			}
			fb := c.read()
			if fb.Get("Event") != "FullyBooted" || fb.Get("Status") != "Fully Booted" || fb.Get("Privilege") != "system,all" {
				t.Fatalf("FullyBooted = %s", fb)
			}
			a := c.do("p1", nil, "Action", "Ping")
			if a.resp.Get("Ping") != "Pong" || a.resp.Get("Timestamp") == "" {
				t.Fatalf("ping = %s", a.resp)
			}
			c.send("Action", "Logoff", "ActionID", "bye")
			if r := c.read(); r.Get("Response") != "Goodbye" || r.Get("ActionID") != "bye" {
				t.Fatalf("logoff = %s", r)
			}
			c.expectEOF()
		})
	}
}

func TestActionBeforeLogin(t *testing.T) {
	_, addr := startServer(t, testConfig())
	c := dial(t, addr)
	a := c.do("x", nil, "Action", "CoreShowChannels")
	if a.resp.Get("Response") != "Error" || a.resp.Get("Message") != "Permission denied" {
		t.Fatalf("answer = %s", a.resp)
	}
	c.login("proxycti", "proxycti")
}

// checkList verifies a well-formed event list answer.
func checkList(t *testing.T, a answer, id, item, complete string) {
	t.Helper()
	if a.resp == nil || a.resp.Get("Response") != "Success" || a.resp.Get("EventList") != "start" || a.resp.Get("ActionID") != id {
		t.Fatalf("list start = %v", a.resp)
	}
	if a.complete == nil || a.complete.Get("Event") != complete || a.complete.Get("ActionID") != id {
		t.Fatalf("complete = %v, want %s", a.complete, complete)
	}
	if n, _ := strconv.Atoi(a.complete.Get("ListItems")); n != len(a.items) {
		t.Fatalf("ListItems = %s, got %d items", a.complete.Get("ListItems"), len(a.items))
	}
	for _, it := range a.items {
		if it.Get("ActionID") != id {
			t.Fatalf("item without ActionID: %s", it)
		}
		if item != "" && !strings.Contains(item, it.Get("Event")) {
			t.Fatalf("unexpected item %s", it.Get("Event"))
		}
	}
}

func TestSnapshotActions(t *testing.T) {
	cfg := testConfig()
	_, addr := startServer(t, cfg)
	c := dial(t, addr)
	c.login("proxycti", "proxycti")
	n := len(cfg.Extensions)
	lists := []struct {
		action   []string
		item     string
		complete string
		min      int
	}{
		{[]string{"Action", "PJSIPShowEndpoints"}, "EndpointList", "EndpointListComplete", n + 1},
		{[]string{"Action", "PJSIPShowEndpoint", "Endpoint", "201"}, "EndpointDetail AorDetail ContactStatusDetail", "EndpointDetailComplete", 3},
		{[]string{"Action", "PJSIPShowEndpoint", "Endpoint", "trunk1"}, "EndpointDetail AorDetail ContactStatusDetail", "EndpointDetailComplete", 3},
		{[]string{"Action", "PJSIPShowContacts"}, "ContactList", "ContactListComplete", n + 1},
		{[]string{"Action", "PJSIPShowRegistrationsOutbound"}, "OutboundRegistrationDetail", "OutboundRegistrationDetailComplete", 1},
		{[]string{"Action", "CoreShowChannels"}, "CoreShowChannel", "CoreShowChannelsComplete", 0},
		{[]string{"Action", "QueueStatus"}, "QueueParams QueueMember QueueEntry", "QueueStatusComplete", 2 + 7},
		{[]string{"Action", "QueueStatus", "Queue", "401"}, "QueueParams QueueMember QueueEntry", "QueueStatusComplete", 1 + 4},
		{[]string{"Action", "QueueSummary"}, "QueueSummary", "QueueSummaryComplete", 2},
		{[]string{"Action", "Parkinglots"}, "Parkinglot", "ParkinglotsComplete", 1},
		{[]string{"Action", "ParkedCalls"}, "ParkedCall", "ParkedCallsComplete", 0},
		{[]string{"Action", "ExtensionStateList"}, "ExtensionStatus", "ExtensionStateListComplete", 2*n + 8},
		{[]string{"Action", "DeviceStateList"}, "DeviceStateChange", "DeviceStateListComplete", 2*n + 1},
		{[]string{"Action", "VoicemailUsersList"}, "VoicemailUserEntry", "VoicemailUserEntryComplete", n},
		{[]string{"Action", "DBGetTree", "Family", "DND"}, "DBGetTreeResponse", "DBGetTreeComplete", 0},
	}
	for i, l := range lists {
		t.Run(strings.Join(l.action[1:], " "), func(t *testing.T) {
			id := "snap-" + strconv.Itoa(i)
			a := c.do(id, nil, l.action...)
			checkList(t, a, id, l.item, l.complete)
			if len(a.items) < l.min {
				t.Fatalf("%d items, want at least %d", len(a.items), l.min)
			}
		})
	}
	errs := []struct {
		action []string
		msg    string
	}{
		{[]string{"Action", "ConfbridgeList"}, "No active conferences."},
		{[]string{"Action", "ConfbridgeList", "Conference", "987201"}, "No Conference by that name found."},
		{[]string{"Action", "ConfbridgeListRooms"}, "No active conferences."},
		{[]string{"Action", "PJSIPShowEndpoint", "Endpoint", "999"}, "Unable to retrieve endpoint 999"},
		{[]string{"Action", "NoSuchThing"}, "Invalid/unknown command"},
		{[]string{"Action", "DBGet", "Family", "DND", "Key", "201"}, "Database entry not found"},
		{[]string{"Foo", "bar"}, "Missing action in request"},
	}
	for i, e := range errs {
		t.Run("error "+strings.Join(e.action, " "), func(t *testing.T) {
			id := "err-" + strconv.Itoa(i)
			a := c.do(id, nil, e.action...)
			if a.resp.Get("Response") != "Error" || a.resp.Get("Message") != e.msg || a.resp.Get("ActionID") != id {
				t.Fatalf("answer = %s", a.resp)
			}
		})
	}
	t.Run("MailboxCount", func(t *testing.T) {
		a := c.do("mb", nil, "Action", "MailboxCount", "Mailbox", "201@default")
		if a.resp.Get("Response") != "Success" || a.resp.Get("NewMessages") != "0" || a.resp.Get("Mailbox") != "201@default" {
			t.Fatalf("answer = %s", a.resp)
		}
	})
	t.Run("Command", func(t *testing.T) {
		a := c.do("cmd", nil, "Action", "Command", "Command", "core show version")
		if a.resp.Get("Response") != "Success" || !strings.Contains(a.resp.Get("Output"), "Asterisk 20") {
			t.Fatalf("answer = %s", a.resp)
		}
	})
	t.Run("EndpointDetail", func(t *testing.T) {
		a := c.do("ep", nil, "Action", "PJSIPShowEndpoint", "Endpoint", "202")
		var csd *Message
		for _, it := range a.items {
			if it.Get("Event") == "ContactStatusDetail" {
				csd = it
			}
		}
		if csd == nil || csd.Get("Status") != "Reachable" || csd.Get("UserAgent") == "" || !strings.Contains(csd.Get("URI"), "@") {
			t.Fatalf("ContactStatusDetail = %v", csd)
		}
		if a.items[0].Get("DeviceState") != "Not in use" || a.items[0].Get("Context") != "from-internal" {
			t.Fatalf("EndpointDetail = %s", a.items[0])
		}
	})
}

func TestAstDBAndDND(t *testing.T) {
	_, addr := startServer(t, testConfig())
	c := dial(t, addr)
	c.login("proxycti", "proxycti")
	var events []*Message
	collect := func(m *Message) { events = append(events, m) }

	a := c.do("put", collect, "Action", "DBPut", "Family", "DND", "Key", "203", "Val", "YES")
	if a.resp.Get("Response") != "Success" {
		t.Fatalf("DBPut = %s", a.resp)
	}
	a = c.do("get", collect, "Action", "DBGet", "Family", "DND", "Key", "203")
	checkList(t, a, "get", "DBGetResponse", "DBGetComplete")
	if len(a.items) != 1 || a.items[0].Get("Val") != "YES" {
		t.Fatalf("DBGet items = %v", a.items)
	}
	if len(events) == 0 || events[0].Get("Event") != "DeviceStateChange" || events[0].Get("Device") != "Custom:DND203" || events[0].Get("State") != "BUSY" {
		t.Fatalf("events after DBPut DND = %v", events)
	}
	c.do("cf", collect, "Action", "DBPut", "Family", "CF", "Key", "203", "Val", "0612345678")
	a = c.do("tree", collect, "Action", "DBGetTree", "Family", "CF")
	checkList(t, a, "tree", "DBGetTreeResponse", "DBGetTreeComplete")
	if len(a.items) != 1 || a.items[0].Get("Family") != "CF" || a.items[0].Get("Key") != "203" || a.items[0].Get("Val") != "0612345678" {
		t.Fatalf("DBGetTree = %v", a.items)
	}
	events = nil
	if a := c.do("del", collect, "Action", "DBDel", "Family", "DND", "Key", "203"); a.resp.Get("Response") != "Success" {
		t.Fatalf("DBDel = %s", a.resp)
	}
	c.do("sync", collect, "Action", "Ping")
	if len(events) == 0 || events[0].Get("State") != "NOT_INUSE" {
		t.Fatalf("events after DBDel DND = %v", events)
	}
	if a := c.do("del2", nil, "Action", "DBDel", "Family", "DND", "Key", "203"); a.resp.Get("Message") != "Database entry not found" {
		t.Fatalf("second DBDel = %s", a.resp)
	}
	if a := c.do("deltree", nil, "Action", "DBDelTree", "Family", "CF"); a.resp.Get("Response") != "Success" {
		t.Fatalf("DBDelTree = %s", a.resp)
	}
}

func TestQueueMemberActions(t *testing.T) {
	_, addr := startServer(t, testConfig())
	c := dial(t, addr)
	c.login("proxycti", "proxycti")
	tests := []struct {
		name   string
		action []string
		resp   string
		event  string
	}{
		{"add", []string{"Action", "QueueAdd", "Queue", "401", "Interface", "Local/208@from-queue/n", "MemberName", "Luca"}, "Success", "QueueMemberAdded"},
		{"add again", []string{"Action", "QueueAdd", "Queue", "401", "Interface", "Local/208@from-queue/n"}, "Error", ""},
		{"add no queue", []string{"Action", "QueueAdd", "Queue", "499", "Interface", "Local/208@from-queue/n"}, "Error", ""},
		{"pause", []string{"Action", "QueuePause", "Queue", "401", "Interface", "Local/208@from-queue/n", "Paused", "true", "Reason", "lunch"}, "Success", "QueueMemberPause"},
		{"unpause all queues", []string{"Action", "QueuePause", "Interface", "Local/208@from-queue/n", "Paused", "false"}, "Success", "QueueMemberPause"},
		{"pause unknown", []string{"Action", "QueuePause", "Interface", "Local/299@from-queue/n", "Paused", "true"}, "Error", ""},
		{"remove", []string{"Action", "QueueRemove", "Queue", "401", "Interface", "Local/208@from-queue/n"}, "Success", "QueueMemberRemoved"},
		{"remove static", []string{"Action", "QueueRemove", "Queue", "401", "Interface", "Local/201@from-queue/n"}, "Error", ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var events []*Message
			id := "q" + strconv.Itoa(i)
			a := c.do(id, func(m *Message) { events = append(events, m) }, tt.action...)
			c.do(id+"-sync", func(m *Message) { events = append(events, m) }, "Action", "Ping")
			if a.resp.Get("Response") != tt.resp {
				t.Fatalf("answer = %s", a.resp)
			}
			if tt.event == "" {
				if len(events) != 0 {
					t.Fatalf("unexpected events %v", events)
				}
				return
			}
			if len(events) != 1 || events[0].Get("Event") != tt.event || events[0].Get("Interface") != "Local/208@from-queue/n" {
				t.Fatalf("events = %v", events)
			}
		})
	}
	a := c.do("st", nil, "Action", "QueueStatus", "Queue", "401", "Member", "Local/208@from-queue/n")
	checkList(t, a, "st", "", "QueueStatusComplete")
	for _, it := range a.items {
		if it.Get("Event") == "QueueMember" {
			t.Fatalf("removed member still listed: %s", it)
		}
	}
}

// TestJunkInput sends garbage; the server answers what it can and keeps
// serving this and other connections.
func TestJunkInput(t *testing.T) {
	_, addr := startServer(t, testConfig())
	c := dial(t, addr)
	c.write("this line has no colon\r\n\r\n")
	if r := c.read(); r.Get("Message") != "Missing action in request" {
		t.Fatalf("answer = %s", r)
	}
	c.write(": empty key\r\nAction:\r\n\r\n")
	if r := c.read(); r.Get("Message") != "Missing action in request" {
		t.Fatalf("answer = %s", r)
	}
	c.write("Action: Login\nUsername: proxycti\nSecret: proxycti\n\n") // LF only
	if r := c.read(); r.Get("Response") != "Success" {
		t.Fatalf("LF login = %s", r)
	}
	c.read() // FullyBooted
	c.write("X-Long: " + strings.Repeat("x", 100000) + "\r\nAction: Ping\r\n\r\n")
	if r := c.read(); r.Get("Ping") != "Pong" {
		t.Fatalf("after long line = %s", r)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	junk := make([]byte, 64<<10)
	for i := range junk {
		junk[i] = byte(rng.IntN(256))
	}
	c.write(string(junk))
	c.write("\r\n\r\nAction: Ping\r\nActionID: after-junk\r\n\r\n")
	for {
		m := c.read()
		if m.Get("ActionID") == "after-junk" {
			if m.Get("Ping") != "Pong" {
				t.Fatalf("after junk = %s", m)
			}
			break
		}
	}
	other := dial(t, addr)
	other.login("proxycti", "proxycti")
}

func TestRestartAndDrop(t *testing.T) {
	cfg := testConfig()
	s, addr := startServer(t, cfg)
	c := dial(t, addr)
	c.login("proxycti", "proxycti")
	s.DropAll()
	c.expectEOF()

	c = dial(t, addr)
	c.login("proxycti", "proxycti")
	s.Restart(0)
	if m := c.read(); m.Get("Event") != "Shutdown" || m.Get("Restart") != "True" {
		t.Fatalf("got %s, want Shutdown", m)
	}
	c.expectEOF()
	c = dial(t, addr)
	c.login("proxycti", "proxycti")
	a := c.do("ch", nil, "Action", "CoreShowChannels")
	checkList(t, a, "ch", "CoreShowChannel", "CoreShowChannelsComplete")
	if st := s.Stats(); st.Clients != 1 {
		t.Fatalf("stats clients = %d", st.Clients)
	}
}

func TestEventMask(t *testing.T) {
	s, addr := startServer(t, testConfig())
	c := dial(t, addr)
	c.send("Action", "Login", "Username", "proxycti", "Secret", "proxycti", "Events", "off")
	if r := c.read(); r.Get("Response") != "Success" {
		t.Fatalf("login = %s", r)
	}
	s.mu.Lock()
	s.pbx.dbPut("DND", "201", "YES")
	s.mu.Unlock()
	a := c.do("p", nil, "Action", "Ping")
	if len(a.before) != 0 {
		t.Fatalf("events with Events: off: %v", a.before)
	}
	if a := c.do("ev", nil, "Action", "Events", "EventMask", "call"); a.resp.Get("Events") != "On" {
		t.Fatalf("Events = %s", a.resp)
	}
	s.mu.Lock()
	s.pbx.dbDel("DND", "201")
	s.mu.Unlock()
	a = c.do("p2", nil, "Action", "Ping")
	if len(a.before) == 0 {
		t.Fatal("no call events after EventMask: call")
	}
}

// TestCloseWithIdleConnections: Close does not wait for clients that never
// logged in, and refuses connections during a restart's downtime.
func TestCloseWithIdleConnections(t *testing.T) {
	s, addr := startServer(t, testConfig())
	idle := dial(t, addr) // banner read, no login
	c := dial(t, addr)
	c.login("proxycti", "proxycti")
	s.Restart(time.Hour)
	idle.expectEOF()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := conn.Read(make([]byte, 64)); err == nil {
		t.Fatalf("got %d bytes from a restarting server", n)
	}
	dial2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer dial2.Close()
	s.Close()
}

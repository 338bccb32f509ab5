package sim

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"testing"
	"time"
)

func fastConfig(seed int64) Config {
	cfg := DefaultConfig()
	cfg.Extensions = ExtensionRange(201, 230)
	cfg.Queues = []Queue{
		{Number: "401", Static: []string{"201", "202", "203"}, Dynamic: []string{"204", "205"}, Strategy: "ringall"},
		{Number: "402", Static: []string{"206"}, Dynamic: []string{"207", "208"}},
	}
	cfg.CallsPerSecond = 150
	cfg.AvgCallDuration = 200 * time.Millisecond
	cfg.AvgRingTime = 40 * time.Millisecond
	cfg.Parking.Timeout = time.Second
	cfg.Mix = Mix{Internal: 20, Queue: 25, Inbound: 15, Park: 15, Conference: 10, Features: 10, Flap: 5, Transfer: 10, Pickup: 10, Record: 10}
	cfg.Seed = seed
	cfg.Epoch = 1700000000
	return cfg
}

// model is the test's own replay of the event stream.
type model struct {
	chans  map[string]*Message // channel → last snapshot (ChannelState, bridge)
	bridge map[string]string   // channel → BridgeUniqueid
	qcall  map[string]map[string]bool
	paused map[string]bool // queue/interface → paused
	parked map[string]string
	conf   map[string]bool
	dev    map[string]string
	events int
	kinds  map[string]int
}

func newModel() *model {
	return &model{chans: map[string]*Message{}, bridge: map[string]string{}, qcall: map[string]map[string]bool{},
		paused: map[string]bool{}, parked: map[string]string{}, conf: map[string]bool{}, dev: map[string]string{}, kinds: map[string]int{}}
}

func (md *model) apply(t *testing.T, m *Message) {
	md.events++
	ev := m.Get("Event")
	md.kinds[ev]++
	ch := m.Get("Channel")
	switch ev {
	case "Newchannel":
		if md.chans[ch] != nil {
			t.Fatalf("Newchannel for existing %s", ch)
		}
		md.chans[ch] = m
	case "Newstate":
		if md.chans[ch] == nil {
			t.Fatalf("Newstate for unknown %s", ch)
		}
		md.chans[ch] = m
	case "Hangup":
		if md.chans[ch] == nil {
			t.Fatalf("Hangup for unknown %s", ch)
		}
		if md.bridge[ch] != "" {
			t.Fatalf("Hangup of %s while still in bridge %s", ch, md.bridge[ch])
		}
		delete(md.chans, ch)
	case "BridgeEnter":
		md.bridge[ch] = m.Get("BridgeUniqueid")
	case "BridgeLeave":
		if md.bridge[ch] != m.Get("BridgeUniqueid") {
			t.Fatalf("BridgeLeave of %s from %s, but in %q", ch, m.Get("BridgeUniqueid"), md.bridge[ch])
		}
		delete(md.bridge, ch)
	case "QueueCallerJoin":
		q := m.Get("Queue")
		if md.qcall[q] == nil {
			md.qcall[q] = map[string]bool{}
		}
		md.qcall[q][ch] = true
	case "QueueCallerLeave":
		delete(md.qcall[m.Get("Queue")], ch)
	case "QueueMemberPause", "QueueMemberAdded":
		md.paused[m.Get("Queue")+"/"+m.Get("Interface")] = m.Get("Paused") == "1"
	case "ParkedCall":
		md.parked[m.Get("ParkingSpace")] = m.Get("ParkeeChannel")
	case "UnParkedCall", "ParkedCallTimeOut", "ParkedCallGiveUp":
		delete(md.parked, m.Get("ParkingSpace"))
	case "ConfbridgeJoin":
		md.conf[ch] = true
	case "ConfbridgeLeave":
		delete(md.conf, ch)
	case "ConfbridgeEnd":
		if len(md.conf) != 0 {
			t.Fatalf("ConfbridgeEnd with %d users", len(md.conf))
		}
	case "DeviceStateChange":
		md.dev[m.Get("Device")] = m.Get("State")
	}
	if ch != "" && m.Get("Linkedid") == "" {
		t.Fatalf("%s without Linkedid", ev)
	}
}

func (md *model) check(t *testing.T, c *rawClient, round int) {
	t.Helper()
	apply := func(m *Message) { md.apply(t, m) }
	id := fmt.Sprintf("r%d-", round)

	a := c.do(id+"chans", apply, "Action", "CoreShowChannels")
	checkList(t, a, id+"chans", "CoreShowChannel", "CoreShowChannelsComplete")
	got := map[string]bool{}
	for _, it := range a.items {
		ch := it.Get("Channel")
		got[ch] = true
		want := md.chans[ch]
		if want == nil {
			t.Fatalf("round %d: CoreShowChannels lists %s, events say it does not exist", round, ch)
		}
		if it.Get("ChannelState") != want.Get("ChannelState") {
			t.Fatalf("round %d: %s state %s, events say %s", round, ch, it.Get("ChannelState"), want.Get("ChannelState"))
		}
		if it.Get("BridgeId") != md.bridge[ch] {
			t.Fatalf("round %d: %s bridge %q, events say %q", round, ch, it.Get("BridgeId"), md.bridge[ch])
		}
		if it.Get("Uniqueid") != want.Get("Uniqueid") || it.Get("Linkedid") != want.Get("Linkedid") {
			t.Fatalf("round %d: %s ids differ", round, ch)
		}
	}
	if len(got) != len(md.chans) {
		t.Fatalf("round %d: CoreShowChannels has %d channels, events say %d", round, len(got), len(md.chans))
	}

	a = c.do(id+"queues", apply, "Action", "QueueStatus")
	checkList(t, a, id+"queues", "QueueParams QueueMember QueueEntry", "QueueStatusComplete")
	entries := map[string]map[string]bool{}
	for _, it := range a.items {
		q := it.Get("Queue")
		switch it.Get("Event") {
		case "QueueEntry":
			if entries[q] == nil {
				entries[q] = map[string]bool{}
			}
			entries[q][it.Get("Channel")] = true
		case "QueueMember":
			k := q + "/" + it.Get("Location")
			if p, ok := md.paused[k]; ok && p != (it.Get("Paused") == "1") {
				t.Fatalf("round %d: member %s paused=%s, events say %v", round, k, it.Get("Paused"), p)
			}
		}
	}
	for q, want := range md.qcall {
		if len(want) == 0 {
			continue
		}
		if !maps.Equal(entries[q], want) {
			t.Fatalf("round %d: queue %s entries %v, events say %v", round, q, entries[q], want)
		}
		delete(entries, q)
	}
	if len(entries) != 0 {
		t.Fatalf("round %d: QueueStatus has callers unknown from events: %v", round, entries)
	}

	a = c.do(id+"parked", apply, "Action", "ParkedCalls")
	checkList(t, a, id+"parked", "ParkedCall", "ParkedCallsComplete")
	parked := map[string]string{}
	for _, it := range a.items {
		parked[it.Get("ParkingSpace")] = it.Get("ParkeeChannel")
	}
	if !maps.Equal(parked, md.parked) {
		t.Fatalf("round %d: ParkedCalls %v, events say %v", round, parked, md.parked)
	}

	a = c.do(id+"conf", apply, "Action", "ConfbridgeList")
	users := map[string]bool{}
	if a.resp.Get("Response") == "Success" {
		checkList(t, a, id+"conf", "ConfbridgeList", "ConfbridgeListComplete")
		for _, it := range a.items {
			users[it.Get("Channel")] = true
		}
	} else if a.resp.Get("Message") != "No active conferences." {
		t.Fatalf("ConfbridgeList = %s", a.resp)
	}
	if !maps.Equal(users, md.conf) {
		t.Fatalf("round %d: ConfbridgeList %v, events say %v", round, users, md.conf)
	}

	a = c.do(id+"eps", apply, "Action", "PJSIPShowEndpoints")
	checkList(t, a, id+"eps", "EndpointList", "EndpointListComplete")
	for _, it := range a.items {
		dev := "PJSIP/" + it.Get("ObjectName")
		if st, ok := md.dev[dev]; ok && devStateText(st) != it.Get("DeviceState") {
			t.Fatalf("round %d: %s DeviceState %q, events say %s", round, dev, it.Get("DeviceState"), st)
		}
	}
}

// TestGenerateSnapshotConsistency runs high-rate generated traffic and
// checks, several times, that snapshot answers agree with the events
// received before them on the same connection.
func TestGenerateSnapshotConsistency(t *testing.T) {
	cfg := fastConfig(7)
	cfg.StartPaused = true // the model starts empty: no baseline needed
	s, addr := startServer(t, cfg)
	c := dial(t, addr)
	c.login("proxycti", "proxycti")
	md := newModel()
	s.SetPaused(false)
	deadline := time.Now().Add(2 * time.Second)
	round := 0
	for time.Now().Before(deadline) {
		round++
		md.check(t, c, round)
		time.Sleep(20 * time.Millisecond)
	}
	s.SetPaused(true)
	md.check(t, c, round+1)
	for _, kind := range []string{"Newchannel", "Hangup", "BridgeEnter", "DialBegin", "DialEnd", "QueueCallerJoin",
		"AgentConnect", "AgentComplete", "ParkedCall", "ConfbridgeJoin", "DeviceStateChange", "ExtensionStatus",
		"BlindTransfer", "AttendedTransfer", "MixMonitorStart", "AgentCalled"} {
		if md.kinds[kind] == 0 {
			t.Errorf("no %s event in %d events (%v)", kind, md.events, md.kinds)
		}
	}
	t.Logf("%d rounds, %d events, kinds %v", round, md.events, md.kinds)
}

// TestGenerateDeterministic: same seed and epoch, same events.
func TestGenerateDeterministic(t *testing.T) {
	const n = 400
	run := func(seed int64) []string {
		cfg := fastConfig(seed)
		cfg.StartPaused = true
		s, addr := startServer(t, cfg)
		c := dial(t, addr)
		c.login("proxycti", "proxycti")
		s.SetPaused(false)
		out := make([]string, 0, n)
		for len(out) < n {
			out = append(out, c.read().String())
		}
		s.Close()
		return out
	}
	a, b := run(42), run(42)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("event %d differs:\n%s\nvs\n%s", i, a[i], b[i])
		}
	}
	if c := run(43); slices.Equal(a, c) {
		t.Fatal("different seeds produced the same events")
	}
}

// TestBenchChanges: the received bench markers match Stats exactly.
func TestBenchChanges(t *testing.T) {
	cfg := testConfig()
	cfg.ChangesPerSecond = 2000
	cfg.StartPaused = true
	s, addr := startServer(t, cfg)
	c := dial(t, addr)
	c.login("proxycti", "proxycti")
	s.SetPaused(false)
	time.Sleep(300 * time.Millisecond)
	s.SetPaused(true)
	per := map[string]uint64{}
	var last uint64
	a := c.do("sync", func(m *Message) {
		if m.Get("Event") != "ContactStatus" {
			return
		}
		seq, at, ok := ParseBenchUserAgent(m.Get("UserAgent"))
		if !ok || at.IsZero() {
			t.Fatalf("bad bench user agent %q", m.Get("UserAgent"))
		}
		if seq != last+1 {
			t.Fatalf("seq %d after %d", seq, last)
		}
		last = seq
		per[m.Get("EndpointName")]++
	}, "Action", "Ping")
	if a.resp.Get("Ping") != "Pong" {
		t.Fatalf("ping = %s", a.resp)
	}
	st := s.Stats()
	if st.BenchChanges == 0 || st.BenchChanges != last {
		t.Fatalf("stats %d changes, received %d", st.BenchChanges, last)
	}
	if !maps.Equal(per, st.BenchPerExtension) {
		t.Fatalf("per extension: received %v, stats %v", per, st.BenchPerExtension)
	}
	// The extension's contact carries the last marker.
	ext := cfg.Extensions[(last-1)%uint64(len(cfg.Extensions))].ID
	d := c.do("ep", nil, "Action", "PJSIPShowEndpoint", "Endpoint", ext)
	for _, it := range d.items {
		if it.Get("Event") == "ContactStatusDetail" {
			if seq, _, ok := ParseBenchUserAgent(it.Get("UserAgent")); !ok || seq != last {
				t.Fatalf("ContactStatusDetail UserAgent %q, want seq %d", it.Get("UserAgent"), last)
			}
		}
	}
	keys := slices.Collect(maps.Keys(per))
	sort.Strings(keys)
	t.Logf("%d changes over %d extensions (%s=%d)", last, len(keys), keys[0], per[keys[0]])
}

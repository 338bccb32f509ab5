package ami

import (
	"fmt"
	"testing"

	"github.com/ctiws/ctiws/cluster"
	"github.com/staskobzar/goami2"
)

// callMix builds the AMI events of call i: an internal call with dialplan
// noise, device states, a queue join/leave, answer and hangup (34 events).
func callMix(i int) []*goami2.Message {
	a := fmt.Sprintf("PJSIP/201-%08x", 2*i)
	b := fmt.Sprintf("PJSIP/202-%08x", 2*i+1)
	ua, ub := fmt.Sprintf("1712825010.%d", 2*i), fmt.Sprintf("1712825010.%d", 2*i+1)
	ch := func(ev, name, uid, state, num, cname, cnum string, extra ...string) *goami2.Message {
		m := goami2.NewMessage()
		m.AddField("Event", ev)
		m.AddField("Privilege", "call,all")
		m.AddField("Channel", name)
		m.AddField("ChannelState", state)
		m.AddField("ChannelStateDesc", "x")
		m.AddField("CallerIDNum", num)
		m.AddField("CallerIDName", "Name "+num)
		m.AddField("ConnectedLineNum", cnum)
		m.AddField("ConnectedLineName", cname)
		m.AddField("Language", "en")
		m.AddField("AccountCode", "")
		m.AddField("Context", "from-internal")
		m.AddField("Exten", "202")
		m.AddField("Priority", "1")
		m.AddField("Uniqueid", uid)
		m.AddField("Linkedid", ua)
		for k := 0; k+1 < len(extra); k += 2 {
			m.AddField(extra[k], extra[k+1])
		}
		return m
	}
	dev := func(d, s string) *goami2.Message {
		m := goami2.NewMessage()
		m.AddField("Event", "DeviceStateChange")
		m.AddField("Privilege", "call,all")
		m.AddField("Device", d)
		m.AddField("State", s)
		return m
	}
	dial := func(ev string, extra ...string) *goami2.Message {
		m := ch(ev, a, ua, "4", "201", "<unknown>", "<unknown>")
		for _, kv := range [][2]string{{"DestChannel", b}, {"DestChannelState", "0"}, {"DestCallerIDNum", "202"}, {"DestCallerIDName", "Bob"},
			{"DestConnectedLineNum", "201"}, {"DestConnectedLineName", "Alice"}, {"DestUniqueid", ub}, {"DestLinkedid", ua}} {
			m.AddField(kv[0], kv[1])
		}
		for k := 0; k+1 < len(extra); k += 2 {
			m.AddField(extra[k], extra[k+1])
		}
		return m
	}
	var out []*goami2.Message
	out = append(out, ch("Newchannel", a, ua, "4", "201", "<unknown>", "<unknown>"))
	for k := 0; k < 6; k++ {
		out = append(out, ch("Newexten", a, ua, "4", "201", "<unknown>", "<unknown>", "Application", "Set", "AppData", "__VAR=1"))
		out = append(out, ch("VarSet", a, ua, "4", "201", "<unknown>", "<unknown>", "Variable", "VAR", "Value", "1"))
	}
	out = append(out,
		ch("QueueCallerJoin", a, ua, "4", "201", "<unknown>", "<unknown>", "Queue", "401", "Position", "1", "Count", "1"),
		ch("Newchannel", b, ub, "0", "202", "Alice", "201"),
		dial("DialBegin", "DialString", "202"),
		ch("Newstate", b, ub, "5", "202", "Alice", "201"),
		dev("PJSIP/202", "RINGING"),
		dev("PJSIP/201", "INUSE"),
		ch("QueueCallerLeave", a, ua, "4", "201", "<unknown>", "<unknown>", "Queue", "401", "Position", "1", "Count", "0"),
		ch("Newstate", b, ub, "6", "202", "Alice", "201"),
		dial("DialEnd", "DialStatus", "ANSWER"),
		ch("Newstate", a, ua, "6", "201", "Bob", "202"),
		ch("BridgeEnter", a, ua, "6", "201", "Bob", "202", "BridgeUniqueid", "br"+ua, "BridgeType", "basic", "BridgeTechnology", "simple_bridge"),
		ch("BridgeEnter", b, ub, "6", "202", "Alice", "201", "BridgeUniqueid", "br"+ua, "BridgeType", "basic", "BridgeTechnology", "simple_bridge"),
		dev("PJSIP/202", "INUSE"),
		ch("BridgeLeave", b, ub, "6", "202", "Alice", "201", "BridgeUniqueid", "br"+ua),
		ch("Hangup", b, ub, "6", "202", "Alice", "201", "Cause", "16"),
		ch("BridgeLeave", a, ua, "6", "201", "Bob", "202", "BridgeUniqueid", "br"+ua),
		ch("Hangup", a, ua, "6", "201", "Bob", "202", "Cause", "16"),
		dev("PJSIP/201", "NOT_INUSE"),
		dev("PJSIP/202", "NOT_INUSE"),
	)
	return out
}

// BenchmarkModel measures AMI events applied per second (with change
// detection and marshalling of every changed object).
func BenchmarkModel(b *testing.B) {
	const calls = 512
	var msgs [][]*goami2.Message
	for i := 0; i < calls; i++ {
		msgs = append(msgs, callMix(i))
	}
	m := NewModel("t", testDirectory(b), testObjects(b), nil, nil, fixedNow)
	for _, id := range []string{"201", "202", "203"} {
		m.newExtension(id).obj.Status = "online"
	}
	m.queueFor("401")
	perCall := len(msgs[0])
	var out []cluster.Event
	emitted := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out = m.Apply(out[:0], msgs[i%calls]...)
		emitted += len(out)
	}
	b.StopTimer()
	events := float64(b.N * perCall)
	b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(emitted)/events, "out/event")
}

// BenchmarkParse measures framing and parsing of AMI events.
func BenchmarkParse(b *testing.B) {
	frame := []byte(hangupEv)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, _, err := parseFrame(frame); err != nil {
			b.Fatal(err)
		}
	}
}

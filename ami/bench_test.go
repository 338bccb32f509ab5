package ami

import (
	"fmt"
	"testing"

	"github.com/staskobzar/goami2"
)

// callIDs are the channel names and Uniqueids of call i's two channels
// (the first Uniqueid is the call's Linkedid).
func callIDs(i int) (a, b, ua, ub string) {
	return fmt.Sprintf("PJSIP/201-%08x", 2*i), fmt.Sprintf("PJSIP/202-%08x", 2*i+1),
		fmt.Sprintf("1712825010.%d", 2*i), fmt.Sprintf("1712825010.%d", 2*i+1)
}

// renumberCall rewrites in place the events of callMix(from) into those of
// callMix(to): every channel name, Uniqueid, Linkedid and bridge id.
func renumberCall(msgs []*goami2.Message, from, to int) {
	a0, b0, ua0, ub0 := callIDs(from)
	a1, b1, ua1, ub1 := callIDs(to)
	br0, br1 := "br"+ua0, "br"+ua1
	for _, m := range msgs {
		h := m.Headers()
		for k := range h {
			switch h[k].Value {
			case a0:
				h[k].Value = a1
			case b0:
				h[k].Value = b1
			case ua0:
				h[k].Value = ua1
			case ub0:
				h[k].Value = ub1
			case br0:
				h[k].Value = br1
			}
		}
	}
}

// callMix builds the AMI events of call i: an internal call with dialplan
// noise, device states, a queue join/leave, answer and hangup (32 events).
func callMix(i int) []*goami2.Message {
	a, b, ua, ub := callIDs(i)
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

package pbx

import (
	"encoding/json"
	"testing"
)

func TestMaskNumber(t *testing.T) {
	tests := []struct{ num, r, want string }{
		{"0721405516", "xxx", "0721405xxx"},
		{"214", "xxx", "xxx"},
		{"21", "xxx", "xxx"},
		// Placeholders carry no number: left as they are.
		{"", "xxx", ""},
		{"<unknown>", "xxx", "<unknown>"},
		{"anonymous", "xxx", "anonymous"},
		{"+39 0721 405516", "xxx", "+39 0721 405xxx"},
		{"2144", "xxx", "2xxx"},
		{"0721405516", "", "0721405516"},
		{"", "", ""},
		{"12345", "*", "1234*"},
	}
	for _, tt := range tests {
		if got := MaskNumber(tt.num, tt.r); got != tt.want {
			t.Errorf("MaskNumber(%q, %q) = %q, want %q", tt.num, tt.r, got, tt.want)
		}
	}
}

func testChannel(num string) *Channel {
	return &Channel{Type: "source", Channel: "PJSIP/201-00000001", CallerNum: num, CallerName: "Caller",
		BridgedNum: "0721405516", BridgedName: "ACME", StartTime: 1, ChannelStatus: "up", BridgedChannel: "PJSIP/trunk-1"}
}

func TestExtensionMasked(t *testing.T) {
	ext := Extension{
		Exten: "201", Name: "Alice", Username: "alice", CF: "0721405516", CFB: "", CFU: "12", CFVm: "201",
		Conversations: Conversations{
			"out": {ID: "out", CounterpartNum: "0721405516", CounterpartName: "ACME", ChSource: testChannel("201"), ChDest: nil},
			"q":   {ID: "q", ThroughQueue: true, CounterpartNum: "0612345678", CounterpartName: "Bob", ChSource: testChannel("201"), ChDest: testChannel("333")},
		},
	}
	tests := []struct {
		name                     string
		out, in                  string
		cf, cfb, cfu, cfVm       string
		outNum, outName, outCh   string
		qNum, qName, qCh, qDest  string
		outBridged, outBridgedNm string
	}{
		{"clear", "", "", "0721405516", "", "12", "201", "0721405516", "ACME", "201", "0612345678", "Bob", "201", "333", "0721405516", "ACME"},
		{"all masked", "xxx", "xxx", "0721405xxx", "", "xxx", "201", "0721405xxx", "xxx", "xxx", "0612345xxx", "xxx", "xxx", "xxx", "0721405xxx", "xxx"},
		{"queue clear", "xxx", "", "0721405xxx", "", "xxx", "201", "0721405xxx", "xxx", "xxx", "0612345678", "Bob", "201", "333", "0721405xxx", "xxx"},
		{"only in-queue", "", "##", "0721405516", "", "12", "201", "0721405516", "ACME", "201", "06123456##", "##", "2##", "3##", "0721405516", "ACME"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ext.Masked(tt.out, tt.in)
			if m.CF != tt.cf || m.CFB != tt.cfb || m.CFU != tt.cfu || m.CFVm != tt.cfVm {
				t.Errorf("cf=%q cfb=%q cfu=%q cfVm=%q", m.CF, m.CFB, m.CFU, m.CFVm)
			}
			if m.Exten != "201" || m.Name != "Alice" || m.Username != "alice" {
				t.Errorf("identity masked: %+v", m)
			}
			o := m.Conversations["out"]
			if o.CounterpartNum != tt.outNum || o.CounterpartName != tt.outName || o.ChSource.CallerNum != tt.outCh {
				t.Errorf("out conv: %q %q %q", o.CounterpartNum, o.CounterpartName, o.ChSource.CallerNum)
			}
			if o.ChSource.BridgedNum != tt.outBridged || o.ChSource.BridgedName != tt.outBridgedNm {
				t.Errorf("out bridged: %q %q", o.ChSource.BridgedNum, o.ChSource.BridgedName)
			}
			if o.ChDest != nil {
				t.Errorf("nil chDest became %+v", o.ChDest)
			}
			if o.ChSource.Channel != "PJSIP/201-00000001" || o.ChSource.BridgedChannel != "PJSIP/trunk-1" {
				t.Errorf("channel names must stay clear: %+v", o.ChSource)
			}
			q := m.Conversations["q"]
			if q.CounterpartNum != tt.qNum || q.CounterpartName != tt.qName || q.ChSource.CallerNum != tt.qCh || q.ChDest.CallerNum != tt.qDest {
				t.Errorf("queue conv: %q %q %q %q", q.CounterpartNum, q.CounterpartName, q.ChSource.CallerNum, q.ChDest.CallerNum)
			}
			// The original is never modified.
			if ext.CF != "0721405516" || ext.Conversations["out"].CounterpartNum != "0721405516" || ext.Conversations["q"].ChSource.CallerNum != "201" {
				t.Fatal("Masked modified its receiver")
			}
		})
	}
}

func TestChannelMaskedNameAlwaysReplaced(t *testing.T) {
	c := &Channel{CallerNum: "", CallerName: "", BridgedNum: "1", BridgedName: ""}
	m := c.Masked("xxx")
	if m.CallerNum != "" || m.CallerName != "xxx" || m.BridgedNum != "xxx" || m.BridgedName != "xxx" {
		t.Errorf("got %+v", m)
	}
	var nilCh *Channel
	if nilCh.Masked("xxx") != nil {
		t.Error("nil channel must stay nil")
	}
}

func TestQueueMasked(t *testing.T) {
	q := Queue{Queue: "401", Members: Map[QueueMember]{"201": {Member: "201", Name: "Alice"}},
		WaitingCallers: Map[WaitingCaller]{"PJSIP/t-1": {ID: "PJSIP/t-1", Num: "0721405516", Name: "ACME", Channel: "PJSIP/t-1"}, "PJSIP/t-2": {Num: "", Name: ""}}}
	tests := []struct{ r, num, name, num2, name2 string }{
		{"", "0721405516", "ACME", "", ""},
		{"xxx", "0721405xxx", "xxx", "", "xxx"},
	}
	for _, tt := range tests {
		m := q.Masked(tt.r)
		w := m.WaitingCallers["PJSIP/t-1"]
		w2 := m.WaitingCallers["PJSIP/t-2"]
		if w.Num != tt.num || w.Name != tt.name || w2.Num != tt.num2 || w2.Name != tt.name2 {
			t.Errorf("r=%q: %+v %+v", tt.r, w, w2)
		}
		if w.Channel != "PJSIP/t-1" || m.Members["201"].Name != "Alice" {
			t.Errorf("r=%q: unmasked fields changed", tt.r)
		}
	}
	if q.WaitingCallers["PJSIP/t-1"].Num != "0721405516" {
		t.Fatal("Masked modified its receiver")
	}
}

func TestTrunkMasked(t *testing.T) {
	tr := Trunk{Exten: "2001", Name: "Provider", Conversations: TrunkConversations{
		"c": {ID: "c", InternalNum: "201", ExternalNum: "0721405516", InternalName: "Alice", ExternalName: "ACME", ChSource: testChannel("0721405516")},
		"e": {ID: "e", InternalNum: "", ExternalNum: "", InternalName: "", ExternalName: ""},
	}}
	tests := []struct {
		r                          string
		in, ext, inName, extName   string
		eIn, eExt, eInName, eExtNm string
		chNum                      string
	}{
		{"", "201", "0721405516", "Alice", "ACME", "", "", "", "", "0721405516"},
		{"xxx", "xxx", "0721405xxx", "xxx", "xxx", "", "", "xxx", "xxx", "0721405xxx"},
	}
	for _, tt := range tests {
		m := tr.Masked(tt.r)
		c, e := m.Conversations["c"], m.Conversations["e"]
		if c.InternalNum != tt.in || c.ExternalNum != tt.ext || c.InternalName != tt.inName || c.ExternalName != tt.extName || c.ChSource.CallerNum != tt.chNum {
			t.Errorf("r=%q: %+v", tt.r, c)
		}
		if e.InternalNum != tt.eIn || e.ExternalNum != tt.eExt || e.InternalName != tt.eInName || e.ExternalName != tt.eExtNm {
			t.Errorf("r=%q empty conv: %+v", tt.r, e)
		}
	}
	if tr.Conversations["c"].ExternalNum != "0721405516" {
		t.Fatal("Masked modified its receiver")
	}
}

func TestParkingMasked(t *testing.T) {
	p := Parking{Name: "71", Parking: "71", Timeout: 45, ParkedCaller: ParkedCaller{Num: "0721405516", Name: "ACME", Parking: "71", Channel: "PJSIP/t-1", ParkeeNum: "201", ParkeeName: "Alice"}}
	m := p.Masked("xxx")
	pc := m.ParkedCaller
	if pc.Num != "0721405xxx" || pc.Name != "xxx" || pc.ParkeeNum != "xxx" || pc.ParkeeName != "xxx" || pc.Channel != "PJSIP/t-1" {
		t.Errorf("masked: %+v", pc)
	}
	if c := p.Masked(""); c.ParkedCaller.Num != "0721405516" {
		t.Errorf("empty r masked: %+v", c.ParkedCaller)
	}
	empty := Parking{Name: "72", Parking: "72"}.Masked("xxx")
	b, _ := json.Marshal(empty)
	if string(b) != `{"name":"72","parking":"72","timeout":0,"parkedCaller":{}}` {
		t.Errorf("empty slot: %s", b)
	}
	if p.ParkedCaller.Num != "0721405516" {
		t.Fatal("Masked modified its receiver")
	}
}

// A conversation whose counterpart is Asterisk's placeholder keeps it: only
// numbers are masked for privacy users.
func TestConversationMaskedKeepsPlaceholders(t *testing.T) {
	tests := []struct{ num, want string }{
		{"<unknown>", "<unknown>"},
		{"", ""},
		{"0721405516", "0721405xxx"},
	}
	for _, tt := range tests {
		c := Conversation{CounterpartNum: tt.num, ChSource: &Channel{CallerNum: "201", BridgedNum: tt.num}}
		m := c.Masked("xxx")
		if m.CounterpartNum != tt.want || m.ChSource.BridgedNum != tt.want {
			t.Errorf("counterpart %q masked to %q (channel %q), want %q", tt.num, m.CounterpartNum, m.ChSource.BridgedNum, tt.want)
		}
	}
}

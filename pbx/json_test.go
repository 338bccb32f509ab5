package pbx

import (
	"testing"
)

func TestJSONShapes(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"extension without conversations", Extension{Exten: "201", Status: "offline", ChanType: "pjsip"},
			`{"ip":"","port":"","mac":"","exten":"201","name":"","username":"","status":"offline","dnd":false,"cf":"","cfb":"","cfu":"","cfVm":"","cfbVm":"","cfuVm":"","codecs":[],"context":"","chanType":"pjsip","sipuseragent":"","conversations":{}}`},
		{"conversation without queue and dest", Conversation{ID: "PJSIP/201-1>", Owner: "201", ChSource: &Channel{Type: "source"}, Recording: "false", Direction: "out"},
			`{"id":"PJSIP/201-1>","owner":"201","chSource":{"type":"source","channel":"","callerNum":"","callerName":"","bridgedNum":"","bridgedName":"","startTime":0,"inConference":false,"channelStatus":"","bridgedChannel":""},"chDest":null,"linkedId":"","uniqueId":"","duration":0,"startTime":0,"connected":false,"recording":"false","direction":"out","inConference":false,"throughQueue":false,"throughTrunk":false,"counterpartNum":"","counterpartName":""}`},
		{"queue empty", Queue{Queue: "401", Name: "Support"},
			`{"name":"Support","queue":"401","members":{},"avgHoldTime":"","avgTalkTime":"","waitingCallers":{},"completedCallsCount":"","abandonedCallsCount":"","serviceLevelTimePeriod":"","serviceLevelPercentage":""}`},
		{"trunk", Trunk{Exten: "2001", Status: "unmonitored", Registration: "unmonitored", MaxChannels: 4},
			`{"ip":"","port":"","name":"","exten":"2001","codecs":[],"status":"unmonitored","registration":"unmonitored","chanType":"","maxChannels":4,"sipuseragent":"","conversations":{}}`},
		{"trunk conversation hides startTime", TrunkConversation{ID: "a>b", StartTime: 5},
			`{"id":"a>b","owner":"","chDest":null,"chSource":null,"duration":0,"recording":"","direction":"","internalNum":"","externalNum":"","internalName":"","externalName":"","throughQueue":false}`},
		{"parked", Parking{Name: "71", Parking: "71", Timeout: 45, ParkedCaller: ParkedCaller{Channel: "c", Num: "1", ParkedAt: 9}},
			`{"name":"71","parking":"71","timeout":45,"parkedCaller":{"num":"1","name":"","parking":"","channel":"c","timeout":0,"parkeeNum":"","parkeeName":""}}`},
		{"conference", Conference{ID: "201", Users: Map[ConfUser]{"201": {ID: "201-201", ExtenID: "201", Owner: true, Channel: "x"}}},
			`{"id":"201","users":{"201":{"id":"201-201","name":"","owner":true,"muted":false,"extenId":"201"}}}`},
	}
	for _, tt := range tests {
		b, err := Marshal(tt.v)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if string(b) != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, b, tt.want)
		}
	}
}

func TestSetTimes(t *testing.T) {
	e := Extension{Conversations: Conversations{"c": {StartTime: 1_000_000}}}
	e.SetTimes(1_037_500)
	if d := e.Conversations["c"].Duration; d != 37 {
		t.Errorf("duration %d", d)
	}
	e.SetTimes(0)
	if d := e.Conversations["c"].Duration; d != 0 {
		t.Errorf("zeroed duration %d", d)
	}
	e.SetTimes(500) // clock behind the PBX
	if d := e.Conversations["c"].Duration; d != 0 {
		t.Errorf("negative duration %d", d)
	}
	q := Queue{WaitingCallers: Map[WaitingCaller]{"c": {WaitingTime: 10_000}}}
	q.SetTimes(22_000)
	if w := q.WaitingCallers["c"].Waiting; w != 12 {
		t.Errorf("waiting %d", w)
	}
	p := Parking{ParkedCaller: ParkedCaller{Channel: "c", ParkedAt: 10_000, TimeoutAt: 45}}
	p.SetTimes(20_000)
	if p.ParkedCaller.Timeout != 35 {
		t.Errorf("timeout %d", p.ParkedCaller.Timeout)
	}
	p.SetTimes(100_000)
	if p.ParkedCaller.Timeout != 0 {
		t.Errorf("expired timeout %d", p.ParkedCaller.Timeout)
	}
	tr := Trunk{Conversations: TrunkConversations{"c": {StartTime: 1000}}}
	tr.SetTimes(3000)
	if d := tr.Conversations["c"].Duration; d != 2 {
		t.Errorf("trunk duration %d", d)
	}
}

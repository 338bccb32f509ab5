package pbx

import (
	"encoding/json"
	"testing"
)

// TestEventPayloadShapes pins the JSON of the owner events' payloads: the
// owner writes them and every node of any version reads them.
func TestEventPayloadShapes(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{ExtenDialing{DialingExten: "201", CallerIdentity: CallerIdentity{"201", "202", "Bob"}, CallerHasConf: true, Channel: "PJSIP/201-1", DestUniqueID: "1.2"},
			`{"dialingExten":"201","callerIdentity":{"numCalled":"201","callerNum":"202","callerName":"Bob"},"callerHasConf":true,"channel":"PJSIP/201-1","destUniqueId":"1.2"}`},
		{ExtenConnected{"201", "202", "in", "1.2", "1.1", true},
			`{"num1":"201","num2":"202","direction":"in","uniqueid":"1.2","linkedid":"1.1","throughTrunk":true}`},
		{ExtenHangup{"normal_clearing", "202", "201", "201"},
			`{"cause":"normal_clearing","callerNum":"202","channelExten":"201","calledNum":"201"}`},
		{Voicemail{"201", "2", "0"}, `{"voicemail":"201","new":"2","old":"0"}`},
		{ConfEnd{"9"}, `{"id":"9"}`},
	} {
		b, err := json.Marshal(tc.v)
		if err != nil || string(b) != tc.want {
			t.Errorf("%T: %s %v, want %s", tc.v, b, err, tc.want)
		}
	}
}

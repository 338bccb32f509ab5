package pbx

import "testing"

func TestKindRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		key, id, event string
		kind           Kind
	}{
		{"exten/201", "201", EvExtenChanged, KindExten},
		{"queue/401", "401", EvQueueChanged, KindQueue},
		{"queuemember/401/201", "401/201", EvQueueMemberChanged, KindQueueMember},
		{"trunk/t1", "t1", EvTrunkChanged, KindTrunk},
		{"parking/71", "71", EvParkingChanged, KindParking},
		{"conf/9", "9", EvConfBridgeConfChanged, KindConf},
		{"voicemail/201", "201", EvVoicemailChanged, KindVoicemail},
	} {
		k, id, ok := KindOf(tc.key)
		if !ok || k != tc.kind || id != tc.id {
			t.Errorf("KindOf(%q) = %v %q %v, want %v %q", tc.key, k, id, ok, tc.kind, tc.id)
		}
		if got := k.ChangeEvent(); got != tc.event {
			t.Errorf("%q: event %q, want %q", tc.key, got, tc.event)
		}
		if got := k.Key(id); got != tc.key {
			t.Errorf("Key(%q) = %q, want %q", id, got, tc.key)
		}
	}
	for _, bad := range []string{"", "exten", "nope/1", "Exten/201"} {
		if _, _, ok := KindOf(bad); ok {
			t.Errorf("KindOf(%q) accepted", bad)
		}
	}
}

func TestConfEndJSON(t *testing.T) {
	if got := string(ConfEndJSON(`9"x`)); got != `{"id":"9\"x"}` {
		t.Fatalf("ConfEndJSON = %s", got)
	}
}

func TestDigest(t *testing.T) {
	d := NewDigester()
	a, b := d.Sum([]byte(`{"exten":"201"}`)), d.Sum([]byte(`{"exten":"202"}`))
	if a == b || a != d.Sum([]byte(`{"exten":"201"}`)) || a == (Digest{}) {
		t.Fatalf("digests %x %x", a, b)
	}
}

package ami

import (
	"strings"
	"testing"
)

func TestParseObjects(t *testing.T) {
	tests := []struct {
		name, in, err string
	}{
		{"full", `{"trunks":{"2001":{"name":"P","maxchannels":4,"host":"h","username":"u"}},"queues":{"401":{"name":"S","dynmembers":["201"]}},"confbridge_prefix":"8","parkings":{"default":{"start":71,"stop":78,"timeout":45}}}`, ""},
		{"empty", `{}`, ""},
		{"unknown field", `{"trunk":{}}`, "unknown field"},
		{"bad tech", `{"trunks":{"2001":{"tech":"h323"}}}`, "tech"},
		{"bad trunk name", `{"trunks":{"a-b":{}}}`, "invalid trunk"},
		{"bad range", `{"parkings":{"default":{"start":78,"stop":71}}}`, "space range"},
		{"empty member", `{"queues":{"401":{"dynmembers":[""]}}}`, "empty extension"},
		{"trailing", `{} {}`, "trailing"},
		{"not json", `trunks: {}`, "decode"},
		{"wrong type", `{"queues":{"401":{"dynmembers":"201"}}}`, "decode"},
	}
	for _, tt := range tests {
		_, err := ParseObjects([]byte(tt.in))
		if tt.err == "" && err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.err)
		}
	}
	if _, err := LoadObjects("testdata/missing.json"); err == nil || !strings.Contains(err.Error(), "read objects file") {
		t.Errorf("missing file: %v", err)
	}
}

func TestObjectsQueueRules(t *testing.T) {
	var none *Objects
	if !none.queueAllowed("401") || none.queueAllowed("default") {
		t.Error("nil objects must allow every queue but default")
	}
	o, _ := ParseObjects([]byte(`{"queues":{"401":{"name":"Support"}}}`))
	if !o.queueAllowed("401") || o.queueAllowed("402") || o.queueName("401") != "Support" || o.queueName("402") != "402" {
		t.Error("configured queues")
	}
}

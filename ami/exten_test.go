package ami

import "testing"

func TestHintOwnDevice(t *testing.T) {
	tests := []struct {
		hint, ext string
		want      bool
	}{
		{"PJSIP/201", "201", true},
		{"PJSIP/201&Custom:DND201,CustomPresence:201", "201", true},
		{"SIP/201&Custom:DND201", "201", true},
		{"", "201", true}, // no Hint header: as before, the extension's own
		// A FreePBX user with a desk phone, phone-island and the mobile app.
		{"PJSIP/201&PJSIP/91201&PJSIP/92201&Custom:DND201,CustomPresence:201", "201", false},
		{"PJSIP/2010", "201", false},
		{"PJSIP/201&Custom:DND202", "201", false},
		{"Local/201@from-internal", "201", false},
		{"PJSIP/91201&Custom:DND91201", "91201", true},
	}
	for _, tt := range tests {
		if got := hintOwnDevice(tt.hint, tt.ext); got != tt.want {
			t.Errorf("hintOwnDevice(%q, %q) = %v, want %v", tt.hint, tt.ext, got, tt.want)
		}
	}
}

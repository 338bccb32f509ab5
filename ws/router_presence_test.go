package ws

import (
	"testing"

	"github.com/ctiws/ctiws/directory"
)

// The main presence of a user comes from all of the user's devices: a
// NethVoice user with a desk phone (201), phone-island (91201) and the
// mobile app (92201) is busy while any of them is in a call, even when the
// main extension's own phone is idle.
func TestAggregatePresenceAllDevices(t *testing.T) {
	u := &directory.User{Username: "alice", MainExtension: "201",
		Extensions: []directory.Extension{{ID: "201"}, {ID: "91201"}, {ID: "92201"}}}
	tests := []struct {
		name              string
		desk, web, mobile string
		dnd               bool
		want              string
	}{
		{"webrtc answers, desk idle", "online", "busy", "online", false, "busy"},
		{"mobile rings", "online", "online", "ringing", false, "ringing"},
		{"one busy, one ringing", "ringing", "busy", "online", false, "busy"},
		{"mobile on hold", "online", "online", "onhold", false, "busy"},
		{"all idle", "online", "online", "online", false, "online"},
		{"desk offline, app online", "offline", "offline", "online", false, "online"},
		{"all offline", "offline", "offline", "offline", false, "offline"},
		{"dnd on the main extension wins", "online", "busy", "online", true, "dnd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			states := map[string]*extenPresence{
				"201":   {status: tt.desk, dnd: tt.dnd},
				"91201": {status: tt.web},
				"92201": {status: tt.mobile},
			}
			got, _ := aggregatePresence(u, func(id string) *extenPresence { return states[id] })
			if got != tt.want {
				t.Errorf("main presence %q, want %q", got, tt.want)
			}
		})
	}
}

package cluster

import "testing"

func TestEventDeletes(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want bool
	}{
		{"state", Event{Key: "exten:201", Data: []byte(`{"status":"online"}`)}, false},
		{"marked", Event{Key: "conf:1", Data: []byte(`{"id":"1"}`), Del: true}, true},
		{"no data", Event{Key: "exten:201"}, true},
	}
	for _, tt := range tests {
		if got := tt.ev.Deletes(); got != tt.want {
			t.Errorf("%s: Deletes() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

package ami

import "testing"

func TestCalledNum(t *testing.T) {
	tests := []struct {
		name              string
		c                 channel
		hangupExten, want string
	}{
		{"answered call: the connected line", channel{connNum: "202", dialled: "202"}, "202", "202"},
		{"unregistered callee: the number dialled", channel{connNum: "<unknown>", dialled: "203"}, "s", "203"},
		{"no first exten: the Hangup's Exten", channel{connNum: "<unknown>"}, "203", "203"},
		{"nothing better known", channel{connNum: "<unknown>"}, "h", "<unknown>"},
		{"a dialled channel keeps its connected line", channel{connNum: "<unknown>", dialer: "PJSIP/201-1"}, "s", "<unknown>"},
	}
	for _, tt := range tests {
		if got := calledNum(&tt.c, tt.hangupExten); got != tt.want {
			t.Errorf("%s: calledNum %q, want %q", tt.name, got, tt.want)
		}
	}
}

package pbx

import (
	"strings"
	"testing"
)

func TestValidID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"201", true}, {"trunk_1", true}, {"default-lot", true}, {strings.Repeat("a", 64), true},
		{"", false}, {strings.Repeat("a", 65), false}, {"201 x", false}, {"201\r\nKey: 205", false},
		{"a:b", false}, {"PJSIP/201", false}, {"2ü1", false},
	} {
		if got := ValidID(tc.in); got != tc.want {
			t.Errorf("ValidID(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

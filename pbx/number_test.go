package pbx

import (
	"strings"
	"testing"
)

func TestValidNumber(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"201", true},
		{"+390612345678", true},
		{"00390612345678", true},
		{"*72", true},
		{"*72#", true},
		{"#31#201", true},
		{strings.Repeat("1", MaxNumberLen), true},
		{"", false},
		{"+", false},
		{"*", false},
		{"#", false},
		{"+*1", false},
		{"++39", false},
		{"39+1", false},
		{"333 1234567", false},
		{"333\r\nAction: DBPut", false},
		{"333\x00", false},
		{"vmu201", false},
		{"-1", false},
		{"１２３", false}, // full-width digits
		{strings.Repeat("1", MaxNumberLen+1), false},
	} {
		if got := ValidNumber(tc.in); got != tc.want {
			t.Errorf("ValidNumber(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestNormaliseNumber(t *testing.T) {
	for in, want := range map[string]string{
		"+39 06 1234-5678":  "00390612345678",
		" (333) 123.45.67 ": "3331234567",
		"*72#":              "*72#",
		"+":                 "",
		"+*#":               "",
		"abc":               "",
		"333\r\nAction: X":  "",
		"333\r\n":           "",
		"\t333":             "",
		"333205x":           "",
		"203/4":             "",
		"2+3":               "",
		"++39":              "",
		"333\u00a0444":      "",
		"0039 (0)6 12":      "00390612",
	} {
		if got := NormaliseNumber(in); got != want {
			t.Errorf("NormaliseNumber(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzValidNumber(f *testing.F) {
	for _, s := range []string{"201", "+39", "*72#", "+", "1\r\n2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidNumber(s) {
			return
		}
		if len(s) > MaxNumberLen || strings.ContainsAny(s, "\r\n\x00 :") || strings.Trim(s, "+*#") == "" {
			t.Fatalf("ValidNumber accepted %q", s)
		}
		if n := NormaliseNumber(s); !ValidNumber(n) && len(n) <= MaxNumberLen {
			t.Fatalf("a valid number %q normalises to an invalid %q", s, n)
		}
	})
}

// FuzzNormaliseNumber: what the rule keeps is exactly the input's digits,
// "*" and "#" in order (after a leading "+" as "00"), and only the
// separators people type are ever dropped.
func FuzzNormaliseNumber(f *testing.F) {
	for _, s := range []string{"+39 06 1234-5678", "333\r\nKey: 205", "(02) 12.34", "*72#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormaliseNumber(s)
		if n == "" {
			return
		}
		in := strings.Trim(s, " ")
		if rest, ok := strings.CutPrefix(in, "+"); ok {
			in = "00" + rest
		}
		if kept := strings.Map(func(r rune) rune {
			if strings.ContainsRune(" -.()", r) {
				return -1
			}
			return r
		}, in); kept != n {
			t.Fatalf("NormaliseNumber(%q) = %q, want %q (only separators dropped)", s, n, kept)
		}
	})
}

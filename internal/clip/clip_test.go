package clip

import (
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"fits", "abc", 3, "abc"},
		{"empty", "", 4, ""},
		{"cut ascii", "abcdef", 4, "abcd…"},
		{"no room", "abc", 0, ""},
		{"negative", "abc", -1, ""},
		{"cut before a two-byte rune", "abè", 3, "ab…"},
		{"keep a whole two-byte rune", "abèd", 4, "abè…"},
		{"cut inside a four-byte rune", "a😀b", 3, "a…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := String(tt.in, tt.max); got != tt.want {
				t.Errorf("String(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
		})
	}
}

func FuzzString(f *testing.F) {
	f.Add("abè😀d", 4)
	f.Fuzz(func(t *testing.T, s string, max int) {
		got := String(s, max)
		if max <= 0 {
			if got != "" {
				t.Fatalf("max %d: got %q", max, got)
			}
			return
		}
		if len(s) <= max {
			if got != s {
				t.Fatalf("fitting value changed: %q → %q", s, got)
			}
			return
		}
		if len(got) > max+len(Ellipsis) {
			t.Fatalf("%d bytes, want at most %d", len(got), max+len(Ellipsis))
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("cut split a rune: %q", got)
		}
	})
}

package pbx

import (
	"math/rand/v2"
	"testing"
)

// TestSafe8 compares safe8 with safeBytes, byte by byte, on strings of
// bytes near every class boundary.
func TestSafe8(t *testing.T) {
	near := []byte{0, 1, 0x1f, 0x20, 0x21, '"', '#', '\\', '[', ']', '<', '=', '>', '&', '%', '\'', 'a', 0x7f, 0x80, 0xff, 0xe2}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200000; i++ {
		var b [8]byte
		for k := range b {
			if r.IntN(4) == 0 {
				b[k] = near[r.IntN(len(near))]
			} else {
				b[k] = byte(r.IntN(256))
			}
			if r.IntN(3) == 0 {
				b[k] = 'a' + byte(r.IntN(26))
			}
		}
		for _, html := range []bool{false, true} {
			checkSafe8(t, string(b[:]), html)
		}
	}
}

func checkSafe8(t *testing.T, s string, html bool) {
	var mask byte = 1
	if html {
		mask = 2
	}
	want := true
	for k := 0; k < 8; k++ {
		if safeBytes[s[k]]&mask == 0 {
			want = false
		}
	}
	if got := safe8(s, html); got != want {
		t.Fatalf("safe8(%q, %v) = %v, want %v", s, html, got, want)
	}
}

// FuzzSafe8 compares safe8 with safeBytes.
func FuzzSafe8(f *testing.F) {
	f.Add("abcdefgh", false)
	f.Add("ab<defgh", true)
	f.Fuzz(func(t *testing.T, s string, html bool) {
		if len(s) >= 8 {
			checkSafe8(t, s[:8], html)
		}
	})
}

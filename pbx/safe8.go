package pbx

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// safe8 reports whether the 8 bytes of s are all written as they are by
// appendString (what safeBytes tells one byte at a time): ASCII, not a
// control byte, '"' or '\', and with html not '<', '>' or '&'.
func safe8(s string, html bool) bool {
	_ = s[7]
	x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	if x&highs != 0 {
		return false // a byte ≥ 0x80
	}
	bad := less(x, 0x20) | zero(x^(ones*'"')) | zero(x^(ones*'\\'))
	if html {
		bad |= zero(x^(ones*'<')) | zero(x^(ones*'>')) | zero(x^(ones*'&'))
	}
	return bad == 0
}

// less is non-zero if and only if some byte of x is less than n (n ≤ 128).
func less(x uint64, n byte) uint64 { return (x - ones*uint64(n)) &^ x & highs }

// zero is non-zero if and only if some byte of x is zero.
func zero(x uint64) uint64 { return (x - ones) &^ x & highs }

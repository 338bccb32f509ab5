// Package clip shortens untrusted strings before they reach a log line, an
// error message or a PBX field, so one long value cannot blow up a line.
package clip

import "unicode/utf8"

// Ellipsis marks where String cut a value.
const Ellipsis = "…"

// String returns s when it fits in max bytes; otherwise its longest prefix
// of at most max bytes that ends on a rune boundary, followed by Ellipsis.
// A cut never splits a UTF-8 sequence, so a valid s stays valid. max ≤ 0
// returns "".
func String(s string, max int) string {
	if max <= 0 {
		return ""
	}
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + Ellipsis
}

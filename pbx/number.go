package pbx

import "strings"

// MaxNumberLen is the longest phone number ctiws passes to the PBX: E.164
// allows 15 digits; the rest leaves room for international and feature-code
// prefixes.
const MaxNumberLen = 32

// ValidNumber reports whether s is a number a phone can dial and the only
// form in which a user-supplied number may reach an AMI action: digits, an
// optional leading "+" followed by at least one digit, and "*" or "#" (for
// feature codes), 1 to MaxNumberLen characters with at least one digit. A
// lone "+" (or "*", "#") is not a number.
func ValidNumber(s string) bool {
	if s == "" || len(s) > MaxNumberLen {
		return false
	}
	digits := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '*' || c == '#':
		case c == '+' && i == 0:
			if len(s) == 1 || s[1] < '0' || s[1] > '9' {
				return false
			}
		default:
			return false
		}
	}
	return digits > 0
}

// NormaliseNumber applies NethCTI's dialling rule to a number typed by a
// person: spaces, dashes, dots and brackets are dropped and a leading "+"
// becomes "00". Anything else — a letter, a control character (CR and LF
// above all), another symbol — makes the whole input "": junk is refused,
// never dropped, so "333" + CRLF + "Key: 205" cannot become 333205. The
// result still has to pass ValidNumber before it is used; input without a
// digit also gives "" (a lone "+" does not become "00").
func NormaliseNumber(s string) string {
	s = strings.Trim(s, " ")
	var b strings.Builder
	if rest, ok := strings.CutPrefix(s, "+"); ok {
		b.WriteString("00")
		s = rest
	}
	digits := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits = true
			b.WriteByte(c)
		case c == '*' || c == '#':
			b.WriteByte(c)
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return ""
		}
	}
	if !digits {
		return ""
	}
	return b.String()
}

package pbx

// ValidID reports whether s can name an extension, queue, parking or room
// inside an AMI header or a CLI command: 1–64 of [A-Za-z0-9_-]. No space
// (it would add an argument to a CLI command), no line break, no colon.
// The REST edge checks ids with it and the PBX owner checks them again.
func ValidID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

package ami

import (
	"context"
	"fmt"
	"strings"

	"github.com/staskobzar/goami2"

	"github.com/ctiws/ctiws/internal/clip"
	"github.com/ctiws/ctiws/pbx"
)

// maxActionLine is the longest "Name: value" line Asterisk's manager reads
// in one piece (its input buffer holds 1024 characters and the line end);
// a longer line would be cut and its remainder read as another header.
const maxActionLine = 1024

// action builds an AMI action from header name/value pairs. It is the only
// builder of actions in this package: every name and value is checked, and
// an unsafe one refuses the whole action with an error wrapping
// ErrUnsafeAction. Conn.Action checks again before writing (checkAction), so
// a message built any other way cannot smuggle headers either.
func action(name string, kv ...string) (*goami2.Message, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("%w: %s: odd number of header arguments", ErrUnsafeAction, safeName(name))
	}
	if !pbx.ValidID(name) {
		return nil, fmt.Errorf("%w: action name %q", ErrUnsafeAction, safeName(name))
	}
	a := goami2.NewAction(name)
	for i := 0; i < len(kv); i += 2 {
		if err := checkHeader(kv[i], kv[i+1]); err != nil {
			return nil, fmt.Errorf("%s: %w", safeName(name), err)
		}
		a.AddField(kv[i], kv[i+1])
	}
	return a, nil
}

// checkAction checks every header of an action before it is written.
func checkAction(a *goami2.Message) error {
	if a == nil {
		return fmt.Errorf("%w: nil action", ErrUnsafeAction)
	}
	for _, h := range a.Headers() {
		if err := checkHeader(h.Name, h.Value); err != nil {
			return err
		}
	}
	return nil
}

// checkHeader validates one header. The error names the header but never
// quotes the value (it may be a secret or an attacker's payload).
func checkHeader(name, value string) error {
	if !pbx.ValidID(name) {
		return fmt.Errorf("%w: header name %q is not 1–64 of [A-Za-z0-9_-]", ErrUnsafeAction, safeName(name))
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		return fmt.Errorf("%w: header %s: value contains CR, LF or NUL", ErrUnsafeAction, name)
	}
	if len(name)+2+len(value) > maxActionLine {
		return fmt.Errorf("%w: header %s: line longer than %d bytes", ErrUnsafeAction, name, maxActionLine)
	}
	return nil
}

// safeName returns s for an error message: at most 32 bytes, with control
// characters replaced.
func safeName(s string) string {
	s = clip.String(s, 32)
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// do builds an action and runs it on c: the one path from a name and
// headers to the wire.
func do(ctx context.Context, c actionLister, name string, kv ...string) (*Response, error) {
	a, err := action(name, kv...)
	if err != nil {
		return nil, err
	}
	return c.Action(ctx, a)
}

package console

import "errors"

// Errors of a session cookie or CSRF token; the handlers answer them with a
// redirect to the login page or 403.
var (
	// ErrNoSession: no session cookie, or one that is malformed, forged or
	// expired.
	ErrNoSession = errors.New("console: no valid session")
	// ErrCSRF: a POST without the session's CSRF token, or from another
	// origin.
	ErrCSRF = errors.New("console: missing or wrong CSRF token")
)

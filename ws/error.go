package ws

import (
	"errors"

	"github.com/ctiws/ctiws/ws/auth"
)

// The package's errors, and what each means. None is sent to a client as
// is: a refused login gets `401` (socket) or HTTP 401, a REST body error
// its message in the JSON error body.

// errLogin is the reason a login or an authenticated request is refused
// (logged and counted, never sent to the client).
type errLogin string

func (e errLogin) Error() string { return string(e) }

// Reasons a login or an authenticated request is refused.
const (
	errUnknownUser  errLogin = "unknown user"
	errBadToken     errLogin = "unknown, expired or revoked token"
	errJWTOtherUser errLogin = "JWT issued to another user"
	errJWTRevoked   errLogin = "JWT revoked (logout or password change)"
	errNoCreds      errLogin = "missing credentials"
	errWrongPass    errLogin = "wrong password"
	errWrongAlarm   errLogin = "wrong alarm secret"
	// errPasswordStale: the password is right for this node's htpasswd,
	// but the cluster holds another hash for the user (one node's file is
	// not up to date): no token is issued.
	errPasswordStale errLogin = "password hash differs from the cluster's (htpasswd file not up to date)"
)

// refused reports whether err refuses the client's credentials (an
// errLogin or a bad JWT), as opposed to a failure of the token store,
// which is not the client's fault.
func refused(err error) bool {
	var le errLogin
	return errors.As(err, &le) || errors.Is(err, auth.ErrJWT)
}

// failureReason maps a refusal to the bounded label of
// ctiws_login_failures_total.
func failureReason(err error) string {
	var le errLogin
	switch {
	case errors.Is(err, auth.ErrJWTAudience):
		return "jwt_audience"
	case errors.Is(err, auth.ErrJWTLifetime):
		return "jwt_lifetime"
	case errors.Is(err, auth.ErrJWT2FA):
		return "jwt_2fa"
	case errors.Is(err, auth.ErrJWTFuture):
		return "jwt_iat_future"
	case errors.Is(err, auth.ErrJWTClaimType):
		return "jwt_claim_type"
	case errors.Is(err, auth.ErrJWT):
		return "jwt_invalid"
	case errors.As(err, &le):
		switch le {
		case errUnknownUser:
			return "unknown_user"
		case errBadToken:
			return "bad_token"
		case errJWTOtherUser:
			return "jwt_other_user"
		case errJWTRevoked:
			return "jwt_revoked"
		case errWrongPass:
			return "wrong_password"
		case errPasswordStale:
			return "password_stale"
		case errNoCreds:
			return "no_credentials"
		case errWrongAlarm:
			return "wrong_alarm_secret"
		}
		return "bad_request"
	}
	return "error"
}

// Errors of a REST request body (decodeBody); the message is the answer's.
var (
	errBodyTooLarge   = errors.New("body too large")
	errBodyUnreadable = errors.New("body too large or unreadable")
	errBodyNotObject  = errors.New("body must be a JSON object")
	errBodyBadJSON    = errors.New("body is not valid JSON for this endpoint")
)

// errBcryptBusy: a tenant's password-check queue is full (HTTP 503 with
// Retry-After).
var errBcryptBusy = errors.New("too many password checks waiting")

// Errors of a socket's send queue: errSocketClosed, the socket is closed;
// errQueueFull, the queue is full (the socket is a slow consumer and is
// disconnected); errQueueBusy, the queue is over the limit a droppable
// frame may fill (the frame is dropped, the socket stays).
var (
	errSocketClosed = errors.New("socket closed")
	errQueueFull    = errors.New("send queue full")
	errQueueBusy    = errors.New("send queue busy")
)

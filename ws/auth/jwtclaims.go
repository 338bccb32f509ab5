package auth

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultJWTClockSkew is how far in the future a JWT's iat and nbf may be
// by default: the issuer's clock may run a little ahead of ours.
const DefaultJWTClockSkew = 60 * time.Second

// claimTypes is the JSON type each claim ctiws reads must have when it is
// present; any other type refuses the token (ErrJWTClaimType), so that
// `"2fa": "true"` or `"iat": "…"` cannot slip past a check that reads only
// the expected type.
var claimTypes = []struct {
	name string
	ok   func(any) bool
}{
	{"id", isString}, {"sub", isString},
	{"iat", isNumber}, {"exp", isNumber}, {"nbf", isNumber},
	{"aud", isAudience},
	{"2fa", isBool}, {"otp_verified", isBool},
}

func isString(v any) bool { _, ok := v.(string); return ok }
func isBool(v any) bool   { _, ok := v.(bool); return ok }

func isNumber(v any) bool {
	switch v.(type) {
	case float64, json.Number:
		return true
	}
	return false
}

// isAudience accepts what RFC 7519 allows: a string or an array of strings.
func isAudience(v any) bool {
	switch a := v.(type) {
	case string:
		return true
	case []any:
		for _, s := range a {
			if !isString(s) {
				return false
			}
		}
		return true
	}
	return false
}

// checkClaims checks the types of the claims ctiws reads, that exp is
// present and not passed, and that neither iat nor nbf lies more than
// p.ClockSkew in the future (a token "issued" next year would otherwise
// escape the maximum lifetime and a password-change revocation).
func checkClaims(claims jwt.MapClaims, p JWTPolicy) error {
	for _, ct := range claimTypes {
		if v, ok := claims[ct.name]; ok && !ct.ok(v) {
			return fmt.Errorf("%w: %w: %s", ErrJWT, ErrJWTClaimType, ct.name)
		}
	}
	exp, _ := claims.GetExpirationTime()
	if exp == nil {
		return fmt.Errorf("%w: %w: iat and exp are required", ErrJWT, ErrJWTLifetime)
	}
	if !p.Now.Before(exp.Time) {
		return fmt.Errorf("%w: token is expired", ErrJWT)
	}
	// Compared as seconds in float64: a year 300000 iat must not overflow
	// a time.Duration into the past.
	limit := float64(p.Now.Add(p.ClockSkew).UnixMilli()) / 1000
	for _, name := range []string{"iat", "nbf"} {
		if v, ok := claims[name]; ok {
			at, err := seconds(v)
			if err != nil {
				return fmt.Errorf("%w: %w: %s", ErrJWT, ErrJWTClaimType, name)
			}
			if at > limit {
				return fmt.Errorf("%w: %w: %s more than %v ahead", ErrJWT, ErrJWTFuture, name, p.ClockSkew)
			}
		}
	}
	return nil
}

// seconds reads a NumericDate claim value (a JSON number of seconds).
func seconds(v any) (float64, error) {
	switch n := v.(type) {
	case float64:
		return n, nil
	case json.Number:
		return n.Float64()
	}
	return 0, jwt.ErrInvalidType
}

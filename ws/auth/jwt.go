package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrJWT is wrapped by every JWT verification failure. The more precise
// reasons below are wrapped too, for metrics.
var ErrJWT = errors.New("auth: invalid JWT")

// Reasons a well-signed JWT is refused.
var (
	// ErrJWTAudience: the token names a ctiws audience of another tenant.
	ErrJWTAudience = errors.New("issued for another tenant (aud)")
	// ErrJWTLifetime: exp - iat exceeds the maximum lifetime, or iat is
	// missing.
	ErrJWTLifetime = errors.New("lifetime longer than the maximum")
	// ErrJWT2FA: the user has two-factor authentication on and the token
	// was issued before the one-time password was verified.
	ErrJWT2FA = errors.New("2fa enabled but otp not verified")
	// ErrJWTFuture: iat or nbf lies more than the clock skew in the future.
	ErrJWTFuture = errors.New("iat or nbf in the future")
	// ErrJWTClaimType: a claim ctiws reads (id, sub, iat, exp, nbf, aud,
	// 2fa, otp_verified) has the wrong JSON type.
	ErrJWTClaimType = errors.New("claim of the wrong type")
)

// audiencePrefix starts the audience ctiws gives the tokens it mints.
const audiencePrefix = "ctiws:"

// TenantAudience is the audience ("aud") of the JWTs ctiws mints for a
// tenant; each tenant refuses a token that names another tenant's.
func TenantAudience(tenant string) string { return audiencePrefix + tenant }

// LooksLikeJWT reports whether token has the three-part JWT shape.
func LooksLikeJWT(token string) bool {
	return strings.Count(token, ".") == 2 && strings.HasPrefix(token, "eyJ")
}

// JWTPolicy is what a tenant requires of a JWT besides its signature.
type JWTPolicy struct {
	// Secrets are the HS256 keys tried in order (current, then previous
	// during a rotation). Empty secrets are skipped.
	Secrets [][]byte
	// Tenant is the tenant id: a token with a ctiws audience ("ctiws:…")
	// must name this tenant. Tokens without a ctiws audience (as
	// nethcti-middleware issues them) are accepted; they are only safe
	// because no two tenants share a secret (the configuration refuses it).
	Tenant string
	// MaxLifetime bounds exp - iat; 0 means no bound.
	MaxLifetime time.Duration
	// ClockSkew is how far in the future iat and nbf may be (the issuer's
	// clock ahead of ours); 0 allows none. See DefaultJWTClockSkew.
	ClockSkew time.Duration
	// Now is the verification time.
	Now time.Time
}

// ClaimPassword is the claim of a JWT that ctiws issued for a password
// login: the fingerprint of the password hash it was issued under
// (Htpasswd.Fingerprint). Such a JWT is refused once the user's password
// has changed. JWTs without it (nethcti-middleware's, `ctiws token`'s) are
// governed by the user's not-before only.
const ClaimPassword = "ctiws_pwf"

// JWTClaims is what ctiws uses of a verified JWT.
type JWTClaims struct {
	User     string // the "id" claim
	IssuedAt time.Time
	Expires  time.Time
	// Password is the ClaimPassword claim; "" when absent.
	Password string
}

// VerifyJWT checks an HS256 JWT: signature with one of the secrets, the
// types of the claims it reads, exp and iat required, iat and nbf not in
// the future (beyond the clock skew), lifetime, audience, and the
// nethcti-middleware 2FA claims ("2fa": true needs "otp_verified": true).
func VerifyJWT(token string, p JWTPolicy) (JWTClaims, error) {
	var keys []jwt.VerificationKey
	for _, s := range p.Secrets {
		if len(s) > 0 {
			keys = append(keys, s)
		}
	}
	if len(keys) == 0 {
		return JWTClaims{}, fmt.Errorf("%w: no secret configured", ErrJWT)
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return jwt.VerificationKeySet{Keys: keys}, nil },
		// The claims are checked below, types first (checkClaims).
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithoutClaimsValidation())
	if err != nil {
		return JWTClaims{}, fmt.Errorf("%w: %v", ErrJWT, err)
	}
	if err := checkClaims(claims, p); err != nil {
		return JWTClaims{}, err
	}
	var c JWTClaims
	c.User, _ = claims["id"].(string)
	c.Password, _ = claims[ClaimPassword].(string)
	if c.User == "" {
		return JWTClaims{}, fmt.Errorf("%w: no id claim", ErrJWT)
	}
	exp, _ := claims.GetExpirationTime()
	iat, _ := claims.GetIssuedAt()
	if exp == nil || iat == nil {
		return JWTClaims{}, fmt.Errorf("%w: %w: iat and exp are required", ErrJWT, ErrJWTLifetime)
	}
	c.IssuedAt, c.Expires = iat.Time, exp.Time
	if p.MaxLifetime > 0 && c.Expires.Sub(c.IssuedAt) > p.MaxLifetime {
		return JWTClaims{}, fmt.Errorf("%w: %w (%v > %v)", ErrJWT, ErrJWTLifetime, c.Expires.Sub(c.IssuedAt), p.MaxLifetime)
	}
	aud, err := claims.GetAudience()
	if err != nil {
		return JWTClaims{}, fmt.Errorf("%w: %v", ErrJWT, err)
	}
	ours, mine := false, false
	for _, a := range aud {
		if strings.HasPrefix(a, audiencePrefix) {
			ours = true
			mine = mine || a == TenantAudience(p.Tenant)
		}
	}
	if ours && !mine {
		return JWTClaims{}, fmt.Errorf("%w: %w", ErrJWT, ErrJWTAudience)
	}
	// Both are booleans when present (checkClaims).
	if on, _ := claims["2fa"].(bool); on {
		if ok, _ := claims["otp_verified"].(bool); !ok {
			return JWTClaims{}, fmt.Errorf("%w: %w", ErrJWT, ErrJWT2FA)
		}
	}
	return c, nil
}

// SignJWT issues an HS256 JWT for user of a tenant (audience
// TenantAudience(tenant)); used by `ctiws token` and tests. An empty tenant
// leaves the audience out, like nethcti-middleware.
func SignJWT(user, tenant string, secret []byte, ttl time.Duration, now time.Time) (string, error) {
	claims := jwt.MapClaims{
		"id":  user,
		"iat": now.Unix(),
		"exp": now.Add(ttl).Unix(),
	}
	if tenant != "" {
		claims["aud"] = TenantAudience(tenant)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("sign JWT: %w", err)
	}
	return s, nil
}

// SignJWTClaims signs arbitrary claims (tests of other packages use it to
// build middleware-like tokens, e.g. with "2fa").
func SignJWTClaims(claims map[string]any, secret []byte) (string, error) {
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims)).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("sign JWT: %w", err)
	}
	return s, nil
}

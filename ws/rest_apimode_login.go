package ws

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/ws/auth"
)

// apiJWTLifetime is how long a JWT from POST /api/login is valid: the
// middleware's two weeks, cut to jwt_max_lifetime (default 24 h).
const apiJWTLifetime = 14 * 24 * time.Hour

// mintAPIJWT signs the JWT POST /api/login answers with, carrying the
// middleware's claims (id, 2fa, otp_verified, profile_id, iat, exp; ctiws
// has no second factor: both false), the tenant's ctiws audience and a
// random jti; pwfp, when set, is the fingerprint of the password hash the
// login was checked against (auth.ClaimPassword).
func (a *restAPI) mintAPIJWT(t *Tenant, cfg *TenantConfig, u *directory.User, pwfp string, now time.Time) (string, time.Time, error) {
	life := apiJWTLifetime
	if m := a.jwtMaxLifetime; m > 0 && m < life {
		life = m
	}
	exp := time.Unix(now.Add(life).Unix(), 0).UTC()
	claims := map[string]any{
		"id":           strings.ToLower(u.Username),
		"2fa":          false,
		"otp_verified": false,
		"iat":          now.Unix(),
		"exp":          exp.Unix(),
		"aud":          auth.TenantAudience(t.ID),
		// Two logins in one second must not yield the same token: a
		// logout revokes one token, not the other session's.
		"jti": auth.NewNonce(),
	}
	if u.ProfileID != "" {
		claims["profile_id"] = u.ProfileID
	}
	if pwfp != "" {
		claims[auth.ClaimPassword] = pwfp
	}
	tok, err := auth.SignJWTClaims(claims, cfg.JWTSecret)
	if err != nil {
		return "", time.Time{}, err
	}
	return tok, exp, nil
}

// apiLogin implements POST /api/login: {"username","password"} →
// {"code":200,"expire":"<RFC 3339>","token":"<JWT>"}. The password check is
// the one of the REST login (throttled, bcrypt pool, same cost for unknown
// users), which also answers its refusals.
func (a *restAPI) apiLogin(w http.ResponseWriter, r *http.Request, t *Tenant) {
	var body struct {
		Username any `json:"username"`
		Password any `json:"password"`
	}
	if err := decodeBody(r, &body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": http.StatusBadRequest, "message": err.Error(), "data": nil})
		return
	}
	username, ok1 := body.Username.(string)
	password, ok2 := body.Password.(string)
	cfg := t.Config()
	if !ok1 || !ok2 || username == "" || password == "" {
		a.metrics.Logins.WithLabelValues(t.ID, "api_refused").Inc()
		a.auth.loginFailed(t, "API login", username, errNoCreds)
		apiUnauthorized(w, "missing Username or Password")
		return
	}
	if len(cfg.JWTSecret) == 0 {
		a.metrics.Logins.WithLabelValues(t.ID, "api_unavailable").Inc()
		a.log.Warn("API login impossible: the tenant has no jwt_secret", "tenant", t.ID)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"code": http.StatusServiceUnavailable, "message": "JWT login not configured", "data": nil})
		return
	}
	user, known := cfg.Directory.User(username)
	if cfg.AuthEnabled && !a.checkPassword(w, r, t, cfg, user, username, password) {
		return
	}
	if !known {
		// Only reachable with authentication disabled: a JWT needs a user.
		a.metrics.Logins.WithLabelValues(t.ID, "api_refused").Inc()
		a.auth.loginFailed(t, "API login", username, errUnknownUser)
		apiUnauthorized(w, "incorrect Username or Password")
		return
	}
	var pwfp string
	if cfg.AuthEnabled {
		var err error
		if pwfp, err = a.currentPassword(r.Context(), t, cfg, user); err != nil {
			if errors.Is(err, errPasswordStale) {
				a.refuseStale(t, "API login", strings.ToLower(user.Username))
				apiUnauthorized(w, "incorrect Username or Password")
				return
			}
			if refused(err) {
				a.metrics.Logins.WithLabelValues(t.ID, "api_refused").Inc()
				a.auth.loginFailed(t, "API login", username, err)
				apiUnauthorized(w, "incorrect Username or Password")
				return
			}
			a.log.Error("token store failed", "tenant", t.ID, "err", err)
			writeError(w, http.StatusServiceUnavailable, "token store unavailable")
			return
		}
	}
	tok, exp, err := a.mintAPIJWT(t, cfg, user, pwfp, time.Now())
	if err != nil {
		a.log.Error("API login failed", "tenant", t.ID, "err", err)
		writeError(w, http.StatusInternalServerError, "cannot issue token")
		return
	}
	a.metrics.Logins.WithLabelValues(t.ID, "api_ok").Inc()
	writeJSON(w, http.StatusOK, map[string]any{"code": http.StatusOK, "expire": exp.Format(time.RFC3339), "token": tok})
}

// apiLogout implements POST /api/logout: the Bearer JWT is revoked
// cluster-wide until its exp, like POST /webrest/authentication/logout,
// and the answer is the middleware's {"code":200}.
func (a *restAPI) apiLogout(w http.ResponseWriter, r *http.Request, t *Tenant) {
	tok, ok := bearer(r)
	if !ok {
		a.auth.loginFailed(t, "API logout", "", errNoCreds)
		apiUnauthorized(w, "auth header is empty")
		return
	}
	_, claims, err := a.auth.verifyJWT(r.Context(), t, tok)
	if err != nil {
		if !refused(err) {
			writeError(w, http.StatusServiceUnavailable, "token store unavailable")
			return
		}
		a.auth.loginFailed(t, "API logout", "(JWT)", err)
		apiUnauthorized(w, "invalid token")
		return
	}
	if err := a.tokens.DenyJWT(r.Context(), t.ID, auth.HashToken(tok), claims.Expires); err != nil {
		writeError(w, http.StatusServiceUnavailable, "token store unavailable")
		return
	}
	a.metrics.TokensRevoked.WithLabelValues(t.ID, "logout").Inc()
	writeJSON(w, http.StatusOK, map[string]any{"code": http.StatusOK})
}

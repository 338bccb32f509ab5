package ws

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/ws/auth"
)

// restLogin implements POST /webrest/authentication/login (docs/protocol.md, section 2.2): success is
// HTTP 401 with `WWW-Authenticate: Digest <nonce>`.
//
// Password checks are throttled per user and per client address (429 with
// Retry-After, see LoginLimits), run in the tenant's share of the bcrypt
// pool (503 with Retry-After when its queue is full), and cost the same
// for unknown users as for wrong passwords.
func (a *restAPI) restLogin(w http.ResponseWriter, r *http.Request, t *Tenant) {
	var body struct {
		Username any `json:"username"`
		Password any `json:"password"`
	}
	if err := decodeBody(r, &body); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	username, ok1 := body.Username.(string)
	password, ok2 := body.Password.(string)
	if !ok1 || !ok2 || username == "" || password == "" {
		a.metrics.Logins.WithLabelValues(t.ID, "rest_refused").Inc()
		writeError(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	cfg := t.Config()
	user, known := cfg.Directory.User(username)
	if cfg.AuthEnabled && !a.checkPassword(w, r, t, cfg, user, username, password) {
		return
	}
	canonical := strings.ToLower(username)
	if known {
		canonical = strings.ToLower(user.Username)
	}
	nonce := auth.NewNonce()
	token := auth.LegacyToken(username, password, nonce)
	// The token is bound to the password hash it was issued under: the
	// store refuses it (and stores nothing) when the cluster already holds
	// another hash for the user (docs/security.md, section 4).
	var pwfp string
	if cfg.AuthEnabled {
		pwfp, _ = cfg.Htpasswd.Fingerprint(canonical)
	}
	ttl, max := a.tokenTTL, 0
	if strings.EqualFold(r.Header.Get("auth-exp"), "no-exp") {
		ttl, max = 0, a.maxPersistentTokens
	}
	evicted, err := a.tokens.PutIssued(r.Context(), t.ID, canonical, auth.HashToken(token), ttl, max, pwfp)
	if evicted > 0 {
		a.metrics.TokensEvicted.WithLabelValues(t.ID).Add(float64(evicted))
		a.log.Info("persistent tokens evicted: user over max_persistent_tokens", "tenant", t.ID, "user", canonical, "evicted", evicted)
	}
	if errors.Is(err, cluster.ErrPasswordStale) {
		a.refuseStale(t, "REST login", canonical)
		writeError(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	if err != nil {
		a.log.Error("token store failed", "tenant", t.ID, "err", err)
		writeError(w, http.StatusServiceUnavailable, "token store unavailable")
		return
	}
	a.metrics.Logins.WithLabelValues(t.ID, "rest_ok").Inc()
	w.Header().Set("WWW-Authenticate", "Digest "+nonce)
	writeError(w, http.StatusUnauthorized, "unauthorized")
}

// checkPassword runs the throttled, queued password check of a REST login
// and answers the refusals itself; true means the password is right.
//
// A locked address is refused. A locked user is refused to the addresses
// that have failed for that user; an address that has not may try once per
// lock period (backoff.freshTry; docs/security.md, section 4). Then the
// address and the user must be within their share of checks in flight
// (inflight), and the tenant's bcrypt queue must have room.
func (a *restAPI) checkPassword(w http.ResponseWriter, r *http.Request, t *Tenant, cfg *TenantConfig, user *directory.User, username, password string) bool {
	now := time.Now()
	name := username
	if user != nil {
		name = user.Username
	}
	addr := addrKey(clientAddr(r, a.trustedProxies))
	userKey := "u\x00" + t.ID + "\x00" + strings.ToLower(name)
	addrKey := "a\x00" + t.ID + "\x00" + addr
	// pairKey records that this address failed for this user.
	pairKey := "p\x00" + t.ID + "\x00" + strings.ToLower(name) + "\x00" + addr
	if wait := a.failures.Wait(addrKey, now); wait > 0 {
		a.throttled(w, t, username, "address", wait)
		return false
	}
	if wait := a.failures.Wait(userKey, now); wait > 0 {
		if a.failures.Failed(pairKey, now) || !a.failures.FreshTry(userKey, now) {
			a.throttled(w, t, username, "user", wait)
			return false
		}
		a.metrics.LoginFreshTries.WithLabelValues(t.ID).Inc()
	}
	for _, share := range []struct {
		scope, key string
		limit      int
	}{{"address_share", addrKey, a.bcryptPerAddress}, {"user_share", userKey, a.bcryptPerUser}} {
		if !a.inflight.take(share.key, share.limit) {
			a.throttled(w, t, username, share.scope, time.Second)
			return false
		}
		defer a.inflight.give(share.key)
	}
	if err := a.bcrypt.acquire(r.Context(), t.ID); err != nil {
		if errors.Is(err, errBcryptBusy) {
			a.metrics.PasswordCheckBusy.WithLabelValues(t.ID).Inc()
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "too many logins in progress, retry later")
		}
		return false
	}
	// Unknown users are checked too (against a dummy hash of the file's
	// cost): the answer takes as long as for a wrong password.
	good := cfg.Htpasswd.Check(name, password)
	a.bcrypt.release()
	a.metrics.PasswordChecks.WithLabelValues(t.ID).Inc()
	if good && user != nil {
		a.failures.Reset(userKey)
		return true
	}
	now = time.Now()
	a.failures.Fail(userKey, a.loginLimits.FreeUser, now)
	a.failures.Fail(addrKey, a.loginLimits.FreeAddress, now)
	a.failures.Fail(pairKey, math.MaxInt, now) // never locks: a record only
	a.metrics.Logins.WithLabelValues(t.ID, "rest_refused").Inc()
	why := errWrongPass
	if user == nil {
		why = errUnknownUser
	}
	a.auth.loginFailed(t, "REST login", username, why)
	writeError(w, http.StatusUnauthorized, "unauthorized")
	return false
}

// throttled answers 429 with Retry-After to a login refused by scope
// (user, address: the back-off; address_share, user_share: too many
// checks in flight), counts and logs it within the log budget.
func (a *restAPI) throttled(w http.ResponseWriter, t *Tenant, username, scope string, wait time.Duration) {
	a.metrics.Logins.WithLabelValues(t.ID, "rest_refused").Inc()
	a.metrics.LoginThrottled.WithLabelValues(t.ID, scope).Inc()
	a.auth.loginFailed(t, "REST login", username, errLogin("too many logins: "+scope), "retry_after", wait.Round(time.Second).String())
	w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	writeError(w, http.StatusTooManyRequests, "too many logins, retry later")
}

// restLogout implements POST /webrest/authentication/logout. A legacy token
// is deleted; a JWT (Bearer, or as the token of user:token) is put on the
// tenant's deny-list until its exp, cluster-wide.
func (a *restAPI) restLogout(w http.ResponseWriter, r *http.Request, t *Tenant) {
	h := r.Header.Get("Authorization")
	var name, token string
	if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
		token = strings.TrimSpace(tok)
	} else {
		var ok bool
		name, token, ok = strings.Cut(h, ":")
		if !ok || name == "" || token == "" {
			a.auth.loginFailed(t, "REST logout", name, errNoCreds)
			writeError(w, http.StatusUnauthorized, "unauthorized")
			return
		}
	}
	if name == "" || auth.LooksLikeJWT(token) && len(t.Config().JWTSecret) > 0 {
		a.logoutJWT(w, r, t, name, token)
		return
	}
	user, _, err := a.auth.authenticate(r.Context(), t, name, token)
	if err != nil {
		a.auth.loginFailed(t, "REST logout", name, err)
		writeError(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	username := strings.ToLower(name)
	if user != nil {
		username = strings.ToLower(user.Username)
	}
	if err := a.tokens.Delete(r.Context(), t.ID, username, auth.HashToken(token)); err != nil {
		writeError(w, http.StatusServiceUnavailable, "token store unavailable")
		return
	}
	a.metrics.TokensRevoked.WithLabelValues(t.ID, "logout").Inc()
	writeJSON(w, http.StatusOK, map[string]string{"message": "logged out"})
}

// logoutJWT revokes a JWT until its exp; name, when given, must be its user.
func (a *restAPI) logoutJWT(w http.ResponseWriter, r *http.Request, t *Tenant, name, token string) {
	user, claims, err := a.auth.verifyJWT(r.Context(), t, token)
	if err == nil && name != "" {
		if u, ok := t.Config().Directory.User(name); !ok || u != user {
			err = errJWTOtherUser
		}
	}
	if err != nil {
		if !refused(err) {
			writeError(w, http.StatusServiceUnavailable, "token store unavailable")
			return
		}
		a.auth.loginFailed(t, "REST logout", name, err)
		writeError(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	if err := a.tokens.DenyJWT(r.Context(), t.ID, auth.HashToken(token), claims.Expires); err != nil {
		writeError(w, http.StatusServiceUnavailable, "token store unavailable")
		return
	}
	a.metrics.TokensRevoked.WithLabelValues(t.ID, "logout").Inc()
	writeJSON(w, http.StatusOK, map[string]string{"message": "logged out"})
}

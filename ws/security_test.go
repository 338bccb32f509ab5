package ws_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/ws"
	"github.com/ctiws/ctiws/ws/auth"
	"github.com/ctiws/ctiws/ws/client"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/crypto/bcrypt"
)

// htpasswdLine is one htpasswd line (cheapest bcrypt cost).
func htpasswdLine(t *testing.T, user, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return user + ":" + string(h) + "\n"
}

func parseHtpasswd(t *testing.T, lines ...string) *auth.Htpasswd {
	t.Helper()
	h, err := auth.ParseHtpasswd([]byte(strings.Join(lines, "")))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// htpasswdFor builds an htpasswd file from user/password pairs.
func htpasswdFor(t *testing.T, pairs ...string) *auth.Htpasswd {
	t.Helper()
	var lines []string
	for i := 0; i+1 < len(pairs); i += 2 {
		lines = append(lines, htpasswdLine(t, pairs[i], pairs[i+1]))
	}
	return parseHtpasswd(t, lines...)
}

// secEnv is a server whose tenants have passwords and JWT secrets.
func secEnv(t *testing.T, tenants []string, secret func(id string) string, htpasswd *auth.Htpasswd, opts func(*ws.Options)) *env {
	t.Helper()
	dir := testDirectory(t)
	return newEnvWith(t, tenants, func(id string) *ws.TenantConfig {
		return &ws.TenantConfig{Directory: dir, Privacy: "xxx", AuthEnabled: true, Htpasswd: htpasswd, JWTSecret: []byte(secret(id))}
	}, opts)
}

func sameSecret(string) string { return "shared" }

// rest sends a request to tenant (t1 is the default host) and returns the
// response with its body read.
func (e *env) rest(tenant, method, path, authz, body string, hdr ...string) (*http.Response, string) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.hs.URL+path, strings.NewReader(body))
	if tenant != "" && tenant != "t1" {
		req.Host = tenant + ".example"
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// passwordLogin does a REST login and returns the token (empty if refused)
// and the response.
func (e *env) passwordLogin(tenant, user, password string, hdr ...string) (string, *http.Response) {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	resp, _ := e.rest(tenant, "POST", "/webrest/authentication/login", "", string(body), hdr...)
	nonce, ok := strings.CutPrefix(resp.Header.Get("WWW-Authenticate"), "Digest ")
	if resp.StatusCode != http.StatusUnauthorized || !ok {
		return "", resp
	}
	return auth.LegacyToken(user, password, nonce), resp
}

// socketLogin dials tenant with user/token and reports whether the login
// was accepted.
func (e *env) socketLogin(tenant, user, token string) (*client.Conn, error) {
	e.t.Helper()
	hdr := http.Header{}
	if tenant != "t1" {
		hdr.Set("Host", tenant+".example")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{URL: e.hs.URL, User: user, Token: token, PingEvery: -1, Header: hdr})
	if err == nil {
		e.t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func signClaims(t *testing.T, secret string, claims map[string]any) string {
	t.Helper()
	tok, err := auth.SignJWTClaims(claims, []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestJWTPolicy: a JWT is accepted or refused the same way over REST
// (Bearer) and at socket login: bound to its tenant, at most
// jwt_max_lifetime long, not issued in the future, every claim it reads of
// the right type, and 2FA claims honoured.
func TestJWTPolicy(t *testing.T) {
	// Both tenants share a secret here (the configuration refuses that;
	// the audience alone must keep ctiws tokens apart).
	e := secEnv(t, []string{"ta", "tb"}, sameSecret, nil, nil)
	now := time.Now()
	claims := func(extra map[string]any) map[string]any {
		c := map[string]any{"id": "alice", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	forTA, _ := auth.SignJWT("alice", "ta", []byte("shared"), time.Hour, now)
	tests := []struct {
		name   string
		tenant string
		token  string
		ok     bool
		reason string
	}{
		{"minted for ta, used on ta", "ta", forTA, true, ""},
		{"minted for ta, used on tb", "tb", forTA, false, "jwt_audience"},
		{"middleware token without aud", "tb", signClaims(t, "shared", claims(nil)), true, ""},
		{"2fa on, otp verified", "ta", signClaims(t, "shared", claims(map[string]any{"2fa": true, "otp_verified": true})), true, ""},
		{"2fa on, otp not verified", "ta", signClaims(t, "shared", claims(map[string]any{"2fa": true})), false, "jwt_2fa"},
		{"2fa on, otp_verified false", "ta", signClaims(t, "shared", claims(map[string]any{"2fa": true, "otp_verified": false})), false, "jwt_2fa"},
		{"lifetime 24h", "ta", signClaims(t, "shared", claims(map[string]any{"exp": now.Add(24 * time.Hour).Unix()})), true, ""},
		{"lifetime 14 days (middleware default)", "ta", signClaims(t, "shared", claims(map[string]any{"exp": now.Add(14 * 24 * time.Hour).Unix()})), false, "jwt_lifetime"},
		{"no iat", "ta", signClaims(t, "shared", map[string]any{"id": "alice", "exp": now.Add(time.Hour).Unix()}), false, "jwt_lifetime"},
		{"expired", "ta", signClaims(t, "shared", claims(map[string]any{"iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()})), false, "jwt_invalid"},
		// iat or nbf in the future, beyond the clock skew (default 60 s).
		{"iat a year ahead", "ta", signClaims(t, "shared", claims(map[string]any{"iat": now.AddDate(1, 0, 0).Unix(), "exp": now.AddDate(1, 0, 0).Add(time.Hour).Unix()})), false, "jwt_iat_future"},
		{"iat 2 min ahead", "ta", signClaims(t, "shared", claims(map[string]any{"iat": now.Add(2 * time.Minute).Unix()})), false, "jwt_iat_future"},
		{"iat 30 s ahead (skew)", "ta", signClaims(t, "shared", claims(map[string]any{"iat": now.Add(30 * time.Second).Unix()})), true, ""},
		{"nbf 2 min ahead", "ta", signClaims(t, "shared", claims(map[string]any{"nbf": now.Add(2 * time.Minute).Unix()})), false, "jwt_iat_future"},
		{"nbf 30 s ahead (skew)", "ta", signClaims(t, "shared", claims(map[string]any{"nbf": now.Add(30 * time.Second).Unix()})), true, ""},
		// A claim of the wrong type is refused, never read as absent.
		{"2fa as string", "ta", signClaims(t, "shared", claims(map[string]any{"2fa": "true"})), false, "jwt_claim_type"},
		{"2fa as number", "ta", signClaims(t, "shared", claims(map[string]any{"2fa": 1})), false, "jwt_claim_type"},
		{"otp_verified as string", "ta", signClaims(t, "shared", claims(map[string]any{"2fa": true, "otp_verified": "true"})), false, "jwt_claim_type"},
		{"2fa false as string", "ta", signClaims(t, "shared", claims(map[string]any{"2fa": "false"})), false, "jwt_claim_type"},
		{"iat as string", "ta", signClaims(t, "shared", claims(map[string]any{"iat": strconv.FormatInt(now.Unix(), 10)})), false, "jwt_claim_type"},
		{"exp as string", "ta", signClaims(t, "shared", claims(map[string]any{"exp": strconv.FormatInt(now.Add(time.Hour).Unix(), 10)})), false, "jwt_claim_type"},
		{"nbf as string", "ta", signClaims(t, "shared", claims(map[string]any{"nbf": "0"})), false, "jwt_claim_type"},
		{"aud as number", "ta", signClaims(t, "shared", claims(map[string]any{"aud": 7})), false, "jwt_claim_type"},
		{"aud list with a number", "ta", signClaims(t, "shared", claims(map[string]any{"aud": []any{"ctiws:ta", 7}})), false, "jwt_claim_type"},
		{"aud list", "ta", signClaims(t, "shared", claims(map[string]any{"aud": []string{"ctiws:ta", "other"}})), true, ""},
		{"id as number", "ta", signClaims(t, "shared", claims(map[string]any{"id": 7})), false, "jwt_claim_type"},
		{"sub as object", "ta", signClaims(t, "shared", claims(map[string]any{"sub": map[string]any{"u": "alice"}})), false, "jwt_claim_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := testutil.ToFloat64(e.srv.Metrics().LoginFailures.WithLabelValues(tt.tenant, tt.reason))
			resp, _ := e.rest(tt.tenant, "GET", "/webrest/user/me", "Bearer "+tt.token, "")
			if got := resp.StatusCode == http.StatusOK; got != tt.ok {
				t.Errorf("REST: HTTP %d, want ok=%v", resp.StatusCode, tt.ok)
			}
			_, err := e.socketLogin(tt.tenant, "alice", tt.token)
			if tt.ok && err != nil {
				t.Errorf("socket login refused: %v", err)
			}
			if !tt.ok && !errors.Is(err, client.ErrUnauthorized) {
				t.Errorf("socket login: %v, want unauthorized", err)
			}
			if !tt.ok {
				if got := testutil.ToFloat64(e.srv.Metrics().LoginFailures.WithLabelValues(tt.tenant, tt.reason)) - before; got != 2 {
					t.Errorf("login_failures_total{reason=%q} grew by %v, want 2", tt.reason, got)
				}
			}
		})
	}
}

// TestJWTLogoutRevokes: logging out with a JWT revokes that JWT (REST and
// socket), and only that one.
func TestJWTLogoutRevokes(t *testing.T) {
	e := secEnv(t, []string{"t1"}, func(string) string { return "k1" }, nil, nil)
	now := time.Now()
	a, _ := auth.SignJWT("alice", "t1", []byte("k1"), time.Hour, now)
	b, _ := auth.SignJWT("alice", "t1", []byte("k1"), 2*time.Hour, now)
	c, _ := auth.SignJWT("bob", "t1", []byte("k1"), time.Hour, now)
	steps := []struct {
		name, method, path, authz string
		want                      int
	}{
		{"before logout", "GET", "/webrest/user/me", "Bearer " + a, 200},
		{"logout with Bearer", "POST", "/webrest/authentication/logout", "Bearer " + a, 200},
		{"revoked JWT", "GET", "/webrest/user/me", "Bearer " + a, 401},
		{"revoked JWT as user:token", "GET", "/webrest/user/me", "alice:" + a, 401},
		{"second logout", "POST", "/webrest/authentication/logout", "Bearer " + a, 401},
		{"other JWT of the user", "GET", "/webrest/user/me", "Bearer " + b, 200},
		{"logout as user:JWT of another user", "POST", "/webrest/authentication/logout", "alice:" + c, 401},
		{"logout as user:JWT", "POST", "/webrest/authentication/logout", "alice:" + b, 200},
		{"revoked second JWT", "GET", "/webrest/user/me", "Bearer " + b, 401},
		{"bob untouched", "GET", "/webrest/user/me", "Bearer " + c, 200},
	}
	for _, st := range steps {
		if resp, body := e.rest("t1", st.method, st.path, st.authz, ""); resp.StatusCode != st.want {
			t.Fatalf("%s: HTTP %d (%s), want %d", st.name, resp.StatusCode, body, st.want)
		}
	}
	if _, err := e.socketLogin("t1", "alice", a); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("socket login with a logged-out JWT: %v, want unauthorized", err)
	}
	if got := testutil.ToFloat64(e.srv.Metrics().TokensRevoked.WithLabelValues("t1", "logout")); got != 2 {
		t.Errorf("tokens_revoked_total{logout} = %v, want 2", got)
	}
}

// TestPasswordChangeRevokes: a reload with a changed password revokes the
// user's legacy tokens (expiring and persistent) and JWTs cluster-wide,
// closes the user's sockets, and leaves other users alone.
func TestPasswordChangeRevokes(t *testing.T) {
	bobLine := htpasswdLine(t, "bob", "pwb")
	e := secEnv(t, []string{"t1"}, func(string) string { return "k1" }, parseHtpasswd(t, htpasswdLine(t, "alice", "pw1"), bobLine), nil)
	tokExp, resp := e.passwordLogin("t1", "alice", "pw1")
	if tokExp == "" {
		t.Fatalf("login: HTTP %d", resp.StatusCode)
	}
	tokPers, _ := e.passwordLogin("t1", "alice", "pw1", "auth-exp", "no-exp")
	tokBob, _ := e.passwordLogin("t1", "bob", "pwb")
	jwtOld, _ := auth.SignJWT("alice", "t1", []byte("k1"), time.Hour, time.Now().Add(-time.Second))
	sock, err := e.socketLogin("t1", "alice", tokExp)
	if err != nil {
		t.Fatal(err)
	}
	for _, authz := range []string{"alice:" + tokExp, "alice:" + tokPers, "Bearer " + jwtOld, "bob:" + tokBob} {
		if resp, _ := e.rest("t1", "GET", "/webrest/user/me", authz, ""); resp.StatusCode != 200 {
			t.Fatalf("before the change: %s: HTTP %d", authz[:5], resp.StatusCode)
		}
	}

	// alice's password changes; bob's line stays the same.
	cfg := &ws.TenantConfig{Directory: testDirectory(t), Privacy: "xxx", AuthEnabled: true, JWTSecret: []byte("k1"),
		Htpasswd: parseHtpasswd(t, htpasswdLine(t, "alice", "pw2"), bobLine)}
	if !e.srv.Reload("t1", cfg) {
		t.Fatal("reload refused")
	}
	select {
	case <-sock.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("alice's socket stayed open after her password changed")
	}
	for _, tt := range []struct {
		authz string
		want  int
	}{
		{"alice:" + tokExp, 401}, {"alice:" + tokPers, 401}, {"Bearer " + jwtOld, 401}, {"bob:" + tokBob, 200},
	} {
		if resp, _ := e.rest("t1", "GET", "/webrest/user/me", tt.authz, ""); resp.StatusCode != tt.want {
			t.Errorf("after the change: %s…: HTTP %d, want %d", tt.authz[:8], resp.StatusCode, tt.want)
		}
	}
	if _, err := e.socketLogin("t1", "alice", tokExp); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("socket login with a pre-change token: %v", err)
	}
	if tok, _ := e.passwordLogin("t1", "alice", "pw1"); tok != "" {
		t.Error("old password still accepted")
	}
	tokNew, _ := e.passwordLogin("t1", "alice", "pw2")
	if resp, _ := e.rest("t1", "GET", "/webrest/user/me", "alice:"+tokNew, ""); resp.StatusCode != 200 {
		t.Errorf("new token after the change: HTTP %d", resp.StatusCode)
	}
	jwtNew, _ := auth.SignJWT("alice", "t1", []byte("k1"), time.Hour, time.Now().Add(time.Second))
	if resp, _ := e.rest("t1", "GET", "/webrest/user/me", "Bearer "+jwtNew, ""); resp.StatusCode != 200 {
		t.Errorf("JWT issued after the change: HTTP %d", resp.StatusCode)
	}
	if got := testutil.ToFloat64(e.srv.Metrics().TokensRevoked.WithLabelValues("t1", "password_change")); got != 1 {
		t.Errorf("tokens_revoked_total{password_change} = %v, want 1", got)
	}
}

// TestPersistentTokensCapped: persistent tokens are capped per user, the
// oldest evicted.
func TestPersistentTokensCapped(t *testing.T) {
	e := secEnv(t, []string{"t1"}, func(string) string { return "k1" }, htpasswdFor(t, "alice", "pw"), func(o *ws.Options) {
		o.MaxPersistentTokens = 2
	})
	var toks []string
	for range 3 {
		tok, resp := e.passwordLogin("t1", "alice", "pw", "auth-exp", "no-exp")
		if tok == "" {
			t.Fatalf("login: HTTP %d", resp.StatusCode)
		}
		toks = append(toks, tok)
		time.Sleep(2 * time.Millisecond) // distinct creation times
	}
	for i, want := range []int{401, 200, 200} {
		if resp, _ := e.rest("t1", "GET", "/webrest/user/me", "alice:"+toks[i], ""); resp.StatusCode != want {
			t.Errorf("persistent token %d: HTTP %d, want %d", i, resp.StatusCode, want)
		}
	}
	if got := testutil.ToFloat64(e.srv.Metrics().TokensEvicted.WithLabelValues("t1")); got != 1 {
		t.Errorf("persistent_tokens_evicted_total = %v, want 1", got)
	}
}

// TestLoginBackoff: failed password logins lock the user, then the client
// address, with 429 and Retry-After; the right password does not get
// through a lock; unknown users go through bcrypt like known ones.
func TestLoginBackoff(t *testing.T) {
	e := secEnv(t, []string{"t1"}, func(string) string { return "k1" }, htpasswdFor(t, "alice", "pw", "bob", "pwb", "carol", "pwc"), func(o *ws.Options) {
		o.LoginLimits = ws.LoginLimits{FreeUser: 2, FreeAddress: 5, Base: time.Minute, Max: time.Hour}
	})
	steps := []struct {
		user, pw string
		want     int
	}{
		{"alice", "x", 401}, {"alice", "x", 401}, // free failures
		{"alice", "x", 401},                      // third failure: locks alice for Base
		{"alice", "pw", 429},                     // locked, even with the right password
		{"bob", "pwb", 401},                      // another user is not locked (401 + nonce = success)
		{"bob", "x", 401}, {"mallory", "x", 401}, // address failures 4 and 5 (alice's 3 count)
		{"carol", "x", 401},   // address failure 6: locks the address
		{"carol", "pwc", 429}, // address locked
	}
	for i, st := range steps {
		tok, resp := e.passwordLogin("t1", st.user, st.pw)
		if resp.StatusCode != st.want {
			t.Fatalf("step %d (%s): HTTP %d, want %d", i, st.user, resp.StatusCode, st.want)
		}
		if st.want == 429 {
			ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
			if err != nil || ra < 1 || ra > 3600 {
				t.Fatalf("step %d: Retry-After %q", i, resp.Header.Get("Retry-After"))
			}
		}
		if st.user == "bob" && st.pw == "pwb" && tok == "" {
			t.Fatalf("step %d: bob's right password refused", i)
		}
	}
	m := e.srv.Metrics()
	if u, a := testutil.ToFloat64(m.LoginThrottled.WithLabelValues("t1", "user")), testutil.ToFloat64(m.LoginThrottled.WithLabelValues("t1", "address")); u != 1 || a != 1 {
		t.Errorf("login_throttled_total user=%v address=%v, want 1 and 1", u, a)
	}
	// Every non-throttled attempt ran bcrypt, mallory (unknown) included.
	if got := testutil.ToFloat64(m.PasswordChecks.WithLabelValues("t1")); got != 7 {
		t.Errorf("password_checks_total = %v, want 7 (unknown users are checked too)", got)
	}
	if got := testutil.ToFloat64(m.LoginFailures.WithLabelValues("t1", "unknown_user")); got != 1 {
		t.Errorf("login_failures_total{unknown_user} = %v, want 1", got)
	}
}

// TestUnknownUserRunsBcrypt: a login for an unknown user runs a password
// check (against the dummy hash) like a wrong password does.
func TestUnknownUserRunsBcrypt(t *testing.T) {
	e := secEnv(t, []string{"t1"}, func(string) string { return "k1" }, htpasswdFor(t, "alice", "pw"), nil)
	for _, user := range []string{"mallory", "alice"} {
		before := testutil.ToFloat64(e.srv.Metrics().PasswordChecks.WithLabelValues("t1"))
		if tok, resp := e.passwordLogin("t1", user, "wrong"); tok != "" || resp.StatusCode != 401 {
			t.Fatalf("%s: HTTP %d", user, resp.StatusCode)
		}
		if got := testutil.ToFloat64(e.srv.Metrics().PasswordChecks.WithLabelValues("t1")) - before; got != 1 {
			t.Errorf("%s: %v password checks, want 1", user, got)
		}
	}
}

// countingHandler counts log records by message.
type countingHandler struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.n[r.Message]++
	h.mu.Unlock()
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

func (h *countingHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[msg]
}

// TestFailedLoginLogRateLimited: a storm of failed logins is counted in
// full but logged within a budget.
func TestFailedLoginLogRateLimited(t *testing.T) {
	logs := &countingHandler{n: map[string]int{}}
	e := secEnv(t, []string{"t1"}, func(string) string { return "k1" }, htpasswdFor(t, "alice", "pw"), func(o *ws.Options) {
		o.Logger = slog.New(logs)
	})
	const n = 40
	for i := range n {
		if resp, _ := e.rest("t1", "GET", "/webrest/user/me", "alice:bad-"+strconv.Itoa(i), ""); resp.StatusCode != 401 {
			t.Fatalf("HTTP %d", resp.StatusCode)
		}
	}
	if got := logs.count("REST authentication refused"); got < 1 || got > 10 {
		t.Errorf("%d log lines for %d failures, want 1..10", got, n)
	}
	m := e.srv.Metrics()
	if got := testutil.ToFloat64(m.LoginFailures.WithLabelValues("t1", "bad_token")); got != n {
		t.Errorf("login_failures_total{bad_token} = %v, want %d", got, n)
	}
	if got := testutil.ToFloat64(m.LoginLogsSuppressed.WithLabelValues("t1")); got+float64(logs.count("REST authentication refused")) != n {
		t.Errorf("suppressed %v + logged %d != %d", got, logs.count("REST authentication refused"), n)
	}
}

// TestLockedUserFreshAddress: a user locked by failures from one address
// stays locked to the addresses that failed for them, even with the right
// password; an address that has not failed for the user may try once per
// lock period (the real user at another address gets in; a botnet of fresh
// addresses gets one guess per period between them).
func TestLockedUserFreshAddress(t *testing.T) {
	e := secEnv(t, []string{"t1"}, func(string) string { return "k1" }, htpasswdFor(t, "alice", "pw", "bob", "pwb"), func(o *ws.Options) {
		o.LoginLimits = ws.LoginLimits{FreeUser: 2, FreeAddress: 100, Base: time.Minute, Max: time.Hour}
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	})
	steps := []struct {
		addr, user, pw string
		want           int // 200: logged in (401 with a nonce); 401: refused
	}{
		{"192.0.2.1", "alice", "x", 401}, {"192.0.2.1", "alice", "x", 401}, // free failures
		{"192.0.2.1", "alice", "x", 401},     // third: alice locked
		{"192.0.2.1", "alice", "pw", 429},    // the failing address stays locked out of alice
		{"198.51.100.2", "alice", "pw", 200}, // the real alice elsewhere: her one fresh try passes (and clears the lock)
		{"192.0.2.1", "alice", "x", 401}, {"192.0.2.1", "alice", "x", 401},
		{"192.0.2.1", "alice", "x", 401},    // locked again
		{"203.0.113.3", "alice", "x", 401},  // a fresh address: the period's one try, wrong
		{"203.0.113.4", "alice", "pw", 429}, // another fresh address: the period's try is used
		{"203.0.113.3", "alice", "pw", 429}, // the fresh address that failed is locked out of alice now
		{"192.0.2.1", "bob", "pwb", 200},    // the lock is alice's alone
	}
	for i, st := range steps {
		tok, resp := e.passwordLogin("t1", st.user, st.pw, "X-Forwarded-For", st.addr)
		got := resp.StatusCode
		if got == 401 && tok != "" {
			got = 200
		}
		if got != st.want {
			t.Fatalf("step %d (%s from %s): %d, want %d", i, st.user, st.addr, got, st.want)
		}
		if got == 429 && resp.Header.Get("Retry-After") == "" {
			t.Fatalf("step %d: 429 without Retry-After", i)
		}
	}
	m := e.srv.Metrics()
	if got := testutil.ToFloat64(m.LoginFreshTries.WithLabelValues("t1")); got != 2 {
		t.Errorf("login_fresh_address_tries_total = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.LoginThrottled.WithLabelValues("t1", "user")); got != 3 {
		t.Errorf("login_throttled_total{user} = %v, want 3", got)
	}
}

// TestAlarmSecretThrottled: wrong alarm secrets are counted, logged within
// the failed-login budget and throttled per client address like failed
// logins (429 with Retry-After, even with the right secret); another
// address is not locked.
func TestAlarmSecretThrottled(t *testing.T) {
	logs := &countingHandler{n: map[string]int{}}
	e := newEnvWith(t, []string{"t1"}, nil, func(o *ws.Options) {
		o.LoginLimits = ws.LoginLimits{FreeUser: 2, FreeAddress: 2, Base: time.Minute, Max: time.Hour}
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
		o.Logger = slog.New(logs)
	})
	const body = `{"type":"collectd_notify","notification":{"status":"FAILURE","type":"q","type_instance":"Queue401"}}`
	steps := []struct {
		addr, secret string
		want         int
	}{
		{"192.0.2.1", "wrong-secret-0123456789", 403}, {"192.0.2.1", "wrong-secret-0123456789", 403}, // free failures
		{"192.0.2.1", "wrong-secret-0123456789", 403}, // third: the address is locked
		{"192.0.2.1", testAlarmSecret, 429},           // even with the right secret
		{"198.51.100.2", testAlarmSecret, 200},        // another address is not
	}
	for i, st := range steps {
		resp, _ := e.rest("t1", "POST", "/webrest/alarm", "Alarm "+st.secret, body, "X-Forwarded-For", st.addr)
		if resp.StatusCode != st.want {
			t.Fatalf("step %d (%s): HTTP %d, want %d", i, st.addr, resp.StatusCode, st.want)
		}
		if st.want == 429 && resp.Header.Get("Retry-After") == "" {
			t.Fatalf("step %d: 429 without Retry-After", i)
		}
	}
	m := e.srv.Metrics()
	if got := testutil.ToFloat64(m.LoginFailures.WithLabelValues("t1", "wrong_alarm_secret")); got != 3 {
		t.Errorf("login_failures_total{wrong_alarm_secret} = %v, want 3", got)
	}
	if got := testutil.ToFloat64(m.LoginThrottled.WithLabelValues("t1", "alarm")); got != 1 {
		t.Errorf("login_throttled_total{alarm} = %v, want 1", got)
	}
	if got := logs.count("alarm refused"); got != 4 {
		t.Errorf("%d alarm refusals logged, want 4 (within the budget)", got)
	}
}

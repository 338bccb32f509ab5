package ws_test

import (
	"testing"
	"time"

	"github.com/ctiws/ctiws/ws"
	"github.com/ctiws/ctiws/ws/auth"
)

// TestJWTSecretRotationOnReload: a reload that moves the tenant to a new
// jwt_secret and keeps the old one as the previous secret logs nobody out
// (JWTs of both secrets are accepted, the open socket stays); the reload
// that drops the previous secret ends the overlap.
func TestJWTSecretRotationOnReload(t *testing.T) {
	// The same htpasswd on every reload: a changed line would revoke
	// alice's JWTs (a password change), which is not what is tested here.
	ht := htpasswdFor(t, "alice", "pw")
	e := secEnv(t, []string{"t1"}, func(string) string { return "old" }, ht, nil)
	dir := testDirectory(t)
	now := time.Now()
	jwtOld, _ := auth.SignJWT("alice", "t1", []byte("old"), time.Hour, now)
	jwtNew, _ := auth.SignJWT("alice", "t1", []byte("new"), time.Hour, now)
	sock, err := e.socketLogin("t1", "alice", jwtOld)
	if err != nil {
		t.Fatalf("socket login with the current secret's JWT: %v", err)
	}
	reload := func(previous string) {
		t.Helper()
		cfg := &ws.TenantConfig{Directory: dir, Privacy: "xxx", AuthEnabled: true, JWTSecret: []byte("new"),
			Htpasswd: ht}
		if previous != "" {
			cfg.JWTPreviousSecret = []byte(previous)
		}
		if !e.srv.Reload("t1", cfg) {
			t.Fatal("reload refused")
		}
	}
	check := func(phase string, want map[string]int) {
		t.Helper()
		for name, tok := range map[string]string{"old": jwtOld, "new": jwtNew} {
			if resp, _ := e.rest("t1", "GET", "/webrest/user/me", "Bearer "+tok, ""); resp.StatusCode != want[name] {
				t.Errorf("%s: JWT of the %s secret: HTTP %d, want %d", phase, name, resp.StatusCode, want[name])
			}
			_, err := e.socketLogin("t1", "alice", tok)
			if ok := err == nil; ok != (want[name] == 200) {
				t.Errorf("%s: socket login with the JWT of the %s secret: %v", phase, name, err)
			}
		}
	}

	check("before the rotation", map[string]int{"old": 200, "new": 401})
	reload("old")
	check("during the overlap", map[string]int{"old": 200, "new": 200})
	select {
	case <-sock.Done():
		t.Fatal("the rotation closed a socket logged in with the previous secret's JWT")
	case <-time.After(100 * time.Millisecond):
	}
	reload("")
	check("after the overlap", map[string]int{"old": 401, "new": 200})
}

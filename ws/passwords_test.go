package ws_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/memory"
	"github.com/ctiws/ctiws/ws"
	"github.com/ctiws/ctiws/ws/auth"
	"github.com/ctiws/ctiws/ws/client"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// twoNodes starts two nodes of one cluster (one memory store) serving
// tenant t1 with the htpasswd ht and JWT secret k1.
func twoNodes(t *testing.T, ht *auth.Htpasswd) [2]*env {
	t.Helper()
	mb := memory.New()
	t.Cleanup(func() { _ = mb.Close() })
	b := mb.Cluster()
	var nodes [2]*env
	for i := range nodes {
		tc := &ws.TenantConfig{Directory: testDirectory(t), Privacy: "xxx", AuthEnabled: true, Htpasswd: ht, JWTSecret: []byte("k1")}
		ts := ws.StartTestServer(t, ws.Options{NodeID: fmt.Sprintf("n%d", i+1), Backend: b,
			Tenants: []*ws.Tenant{ws.NewTenant("t1", nil, tc)}, SendBuffer: 64})
		nodes[i] = &env{t: t, backend: b, srv: ts.Srv, hs: ts.HTTP, reg: ts.Registry, lease: map[string]cluster.Lease{}}
	}
	if _, ok, err := b.Ownership.Acquire(context.Background(), "t1", "owner", time.Minute); err != nil || !ok {
		t.Fatalf("acquire: %v %v", ok, err)
	}
	return nodes
}

// apiLogin does POST /api/login and returns the JWT ("" if refused).
func (e *env) apiLogin(user, password string) string {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	resp, out := e.rest("t1", "POST", "/api/login", "", string(body))
	if resp.StatusCode != 200 {
		return ""
	}
	var ans struct{ Token string }
	if err := json.Unmarshal([]byte(out), &ans); err != nil {
		e.t.Fatal(err)
	}
	return ans.Token
}

// me is the status of GET /webrest/user/me with authz.
func (e *env) me(authz string) int {
	e.t.Helper()
	resp, _ := e.rest("t1", "GET", "/webrest/user/me", authz, "")
	return resp.StatusCode
}

// TestPasswordChangeAcrossNodes: bob's password changes and only one node
// reloads. Whichever node it is, the other (its file still old) issues no
// token for the old password (REST legacy login with and without
// auth-exp: no-exp, POST /api/login), every token issued under the old
// password is refused on both nodes — also a JWT the stale node minted
// after the change (the race: password checked just before the other node
// published) — and bob's sockets on both nodes are closed. When the stale
// node reloads its old file, the cluster is not rolled back; once it has
// the new file, the old tokens stay refused.
func TestPasswordChangeAcrossNodes(t *testing.T) {
	for _, tc := range []struct {
		name            string
		reloader, stale int
	}{
		{"node 1 reloads", 0, 1},
		{"node 2 reloads", 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			aliceLine := htpasswdLine(t, "alice", "pwa")
			v1 := parseHtpasswd(t, aliceLine, htpasswdLine(t, "bob", "old"))
			v2 := parseHtpasswd(t, aliceLine, htpasswdLine(t, "bob", "new"))
			nodes := twoNodes(t, v1)
			re, st := nodes[tc.reloader], nodes[tc.stale]

			tokE, _ := st.passwordLogin("t1", "bob", "old")
			tokP, _ := st.passwordLogin("t1", "bob", "old", "auth-exp", "no-exp")
			jwt := st.apiLogin("bob", "old")
			tokAlice, _ := st.passwordLogin("t1", "alice", "pwa")
			if tokE == "" || tokP == "" || jwt == "" || tokAlice == "" {
				t.Fatalf("logins before the change: %q %q %q %q", tokE, tokP, jwt, tokAlice)
			}
			var socks []*client.Conn
			for _, n := range nodes {
				for _, tok := range []string{tokE, jwt} {
					c, err := n.socketLogin("t1", "bob", tok)
					if err != nil {
						t.Fatalf("socket login before the change: %v", err)
					}
					socks = append(socks, c)
				}
			}
			aliceSock, err := st.socketLogin("t1", "alice", tokAlice)
			if err != nil {
				t.Fatal(err)
			}

			cfg := &ws.TenantConfig{Directory: testDirectory(t), Privacy: "xxx", AuthEnabled: true, Htpasswd: v2, JWTSecret: []byte("k1")}
			if !re.srv.Reload("t1", cfg) {
				t.Fatal("reload refused")
			}
			for i, c := range socks {
				select {
				case <-c.Done():
				case <-time.After(5 * time.Second):
					t.Fatalf("bob's socket %d (node %d) stayed open after his password changed", i, i/2+1)
				}
			}
			select {
			case <-aliceSock.Done():
				t.Fatal("alice's socket was closed")
			default:
			}

			// The stale node still has the old hash: it must not issue a
			// token for the old password.
			if tok, _ := st.passwordLogin("t1", "bob", "old"); tok != "" {
				t.Error("stale node: legacy login with the old password issued a token")
			}
			if tok, _ := st.passwordLogin("t1", "bob", "old", "auth-exp", "no-exp"); tok != "" {
				t.Error("stale node: persistent login with the old password issued a token")
			}
			if tok := st.apiLogin("bob", "old"); tok != "" {
				t.Error("stale node: /api/login with the old password issued a JWT")
			}
			if got := testutil.ToFloat64(st.srv.Metrics().LoginFailures.WithLabelValues("t1", "password_stale")); got != 3 {
				t.Errorf("stale node: login_failures_total{password_stale} = %v, want 3", got)
			}
			// A JWT the stale node minted after the change under the old
			// password (what a login racing the reload yields).
			fpOld, _ := v1.Fingerprint("bob")
			now := time.Now().Add(time.Second)
			raced := signClaims(t, "k1", map[string]any{"id": "bob", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
				"aud": auth.TenantAudience("t1"), auth.ClaimPassword: fpOld})
			for i, n := range nodes {
				for name, authz := range map[string]string{"expiring": "bob:" + tokE, "persistent": "bob:" + tokP,
					"JWT": "Bearer " + jwt, "raced JWT": "Bearer " + raced} {
					if code := n.me(authz); code != 401 {
						t.Errorf("node %d: %s token of the old password: HTTP %d, want 401", i+1, name, code)
					}
				}
				if code := n.me("alice:" + tokAlice); code != 200 {
					t.Errorf("node %d: alice's token: HTTP %d", i+1, code)
				}
			}

			// A JWT's iat has whole seconds: one minted in the second of the
			// revocation counts as issued before it.
			time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
			tokNew, _ := re.passwordLogin("t1", "bob", "new")
			jwtNew := re.apiLogin("bob", "new")
			if tokNew == "" || jwtNew == "" {
				t.Fatal("the new password refused on the node that has it")
			}
			// The stale node reloads its old file (a SIGHUP before the new
			// file reached it): the cluster keeps the new password.
			old := &ws.TenantConfig{Directory: testDirectory(t), Privacy: "xxx", AuthEnabled: true, Htpasswd: v1, JWTSecret: []byte("k1")}
			st.srv.Reload("t1", old)
			if got := testutil.ToFloat64(st.srv.Metrics().StalePasswords.WithLabelValues("t1")); got != 1 {
				t.Errorf("stale node: htpasswd_stale_users = %v, want 1", got)
			}
			if tok, _ := st.passwordLogin("t1", "bob", "old", "auth-exp", "no-exp"); tok != "" {
				t.Error("stale node after reloading its old file: old password issued a token")
			}
			// Then the new file reaches it.
			st.srv.Reload("t1", cfg)
			for i, n := range nodes {
				for name, authz := range map[string]string{"new token": "bob:" + tokNew, "new JWT": "Bearer " + jwtNew} {
					if code := n.me(authz); code != 200 {
						t.Errorf("node %d: %s: HTTP %d, want 200", i+1, name, code)
					}
				}
				for name, authz := range map[string]string{"persistent": "bob:" + tokP, "JWT": "Bearer " + jwt, "raced JWT": "Bearer " + raced} {
					if code := n.me(authz); code != 401 {
						t.Errorf("node %d after both reloads: %s token of the old password: HTTP %d, want 401", i+1, name, code)
					}
				}
				if _, err := n.socketLogin("t1", "bob", tokP); !errors.Is(err, client.ErrUnauthorized) {
					t.Errorf("node %d: socket login with the old persistent token: %v", i+1, err)
				}
			}
			if got := testutil.ToFloat64(st.srv.Metrics().StalePasswords.WithLabelValues("t1")); got != 0 {
				t.Errorf("htpasswd_stale_users after the update = %v, want 0", got)
			}
			if tok, _ := st.passwordLogin("t1", "bob", "new"); tok == "" {
				t.Error("the formerly stale node refuses the new password")
			}
		})
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/ws/auth"
	"golang.org/x/crypto/bcrypt"
)

// TestHtpasswdChangeWithoutSIGHUP: the htpasswd file is a mounted
// Kubernetes Secret (users.htpasswd -> ..data/users.htpasswd, ..data a
// symlink swapped to a new folder on update). Changing alice's password
// there, with no SIGHUP, is noticed within htpasswd_poll_interval: her
// old password and the token it gave are refused, her socket is closed,
// the new password works.
func TestHtpasswdChangeWithoutSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	dir := t.TempDir()
	demo, _ := filepath.Abs("demo")
	for _, f := range []string{"users.json", "profiles.json", "objects.json"} {
		b, err := os.ReadFile(filepath.Join(demo, f))
		if err != nil {
			t.Fatal(err)
		}
		_ = os.WriteFile(filepath.Join(dir, f), b, 0o600)
	}
	secret := func(version, password string) {
		t.Helper()
		h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		folder := filepath.Join(dir, "..v"+version)
		if err := os.Mkdir(folder, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(folder, "users.htpasswd"), []byte("alice:"+string(h)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		// The kubelet's atomic update: a new symlink renamed over ..data.
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink("..v"+version, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	secret("1", "old")
	if err := os.Symlink(filepath.Join("..data", "users.htpasswd"), filepath.Join(dir, "users.htpasswd")); err != nil {
		t.Fatal(err)
	}
	listen, metrics := freeAddr(t), freeAddr(t)
	cfg := fmt.Sprintf("listen: %q\nmetrics_listen: %q\nhtpasswd_poll_interval: 100ms\nlogin_free_failures: 1000\nlogin_address_free_failures: 1000\n"+
		"tenants:\n  - id: demo\n    ami: {address: sim, sim_calls_per_second: 0}\n    auth: {htpasswd_file: users.htpasswd, jwt_secret: %q}\n"+
		"    users_file: users.json\n    profiles_file: profiles.json\n    objects_file: objects.json\n", listen, metrics, tenantJWT("demo"))
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	n := &nodeProc{t: t, name: "htpasswd", listen: listen, metrics: metrics}
	startNode(t, n, filepath.Join(dir, "config.yaml"))
	c := &testCluster{t: t, nodes: []*nodeProc{n}}
	c.eventually("ready", 10*time.Second, n.ready)

	login := func(password string) string {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"username": "alice", "password": password})
		resp, err := http.Post("http://"+listen+"/webrest/authentication/login", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		nonce, ok := strings.CutPrefix(resp.Header.Get("WWW-Authenticate"), "Digest ")
		if !ok {
			return ""
		}
		return auth.LegacyToken("alice", password, nonce)
	}
	me := func(token string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+listen+"/webrest/user/me", nil)
		req.Header.Set("Authorization", "alice:"+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tok := login("old")
	if tok == "" || me(tok) != 200 {
		t.Fatal("login with the first password refused")
	}
	v, err := c.connectToken(n, "demo", "alice", tok)
	if err != nil {
		t.Fatal(err)
	}

	secret("2", "new")
	c.eventually("new password accepted", 5*time.Second, func() bool { return login("new") != "" })
	if login("old") != "" {
		t.Error("old password still accepted")
	}
	if code := me(tok); code != 401 {
		t.Errorf("token of the old password: HTTP %d, want 401", code)
	}
	select {
	case <-v.conn.Done():
	case <-time.After(5 * time.Second):
		t.Error("alice's socket stayed open after her password changed")
	}
	if !strings.Contains(n.log(), "htpasswd file changed: reloading") {
		t.Error("the reload was not logged")
	}
}

package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster/clustertest/redisserver"
	redisbackend "github.com/ctiws/ctiws/cluster/redisbackend"
	"github.com/redis/go-redis/v9"
)

// TestTokenCommandMaxLifetime: `ctiws token` cannot mint a JWT the nodes
// would refuse.
func TestTokenCommandMaxLifetime(t *testing.T) {
	path, _, _ := demoConfig(t, "jwt_max_lifetime: 2h")
	tests := []struct {
		ttl  string
		code int
	}{
		{"1h", 0}, {"2h", 0}, {"2h1m", exitUsage}, {"0s", exitUsage},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		if code := run([]string{"token", "-config", path, "-user", "alice", "-ttl", tt.ttl}, &out, &errb); code != tt.code {
			t.Errorf("-ttl %s: exit %d, want %d (%s)", tt.ttl, code, tt.code, errb.String())
		}
		if tt.code == exitUsage && !strings.Contains(errb.String(), "jwt_max_lifetime") {
			t.Errorf("-ttl %s: stderr %q does not name jwt_max_lifetime", tt.ttl, errb.String())
		}
	}
}

// TestTokensCommand lists and revokes a user's persistent tokens in Redis.
func TestTokensCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	rs := redisserver.Start(t)
	opts, err := redis.ParseURL(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	b := redisbackend.NewFromClient(rdb).Cluster()
	t.Cleanup(func() { _ = b.Close(); _ = rdb.Close() })
	ctx := context.Background()
	for _, h := range []string{"aaaa1111", "bbbb2222"} {
		if _, err := b.Tokens.PutPersistent(ctx, "demo", "alice", h, 10); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := b.Tokens.Put(ctx, "demo", "alice", "cccc3333", time.Hour); err != nil {
		t.Fatal(err)
	}
	path, _, _ := demoConfig(t, "redis_url: "+rs.URL())
	memPath, _, _ := demoConfig(t, "")
	tokens := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"tokens"}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	steps := []struct {
		name string
		args []string
		code int
		want string // in stdout (code 0) or stderr
	}{
		{"list", []string{"list", "-config", path, "-user", "Alice"}, 0, "2 persistent token(s) of demo/alice\naaaa1111  "},
		{"revoke needs -hash or -all", []string{"revoke", "-config", path, "-user", "alice"}, exitUsage, "-hash"},
		{"no such hash", []string{"revoke", "-config", path, "-user", "alice", "-hash", "ffff"}, 1, "ffff"},
		{"revoke one", []string{"revoke", "-config", path, "-user", "alice", "-hash", "aaaa"}, 0, "revoked aaaa1111"},
		{"list after", []string{"list", "-config", path, "-user", "alice"}, 0, "1 persistent token(s)"},
		{"revoke all", []string{"revoke", "-config", path, "-user", "alice", "-all"}, 0, "1 persistent deleted"},
		{"list empty", []string{"list", "-config", path, "-user", "alice"}, 0, "0 persistent token(s)"},
		{"memory backend", []string{"list", "-config", memPath, "-user", "alice"}, exitUsage, "redis_url"},
		{"bad verb", []string{"purge"}, exitUsage, "list|revoke"},
	}
	for _, st := range steps {
		code, out, errs := tokens(st.args...)
		if code != st.code {
			t.Fatalf("%s: exit %d, want %d (%s%s)", st.name, code, st.code, out, errs)
		}
		got := out
		if code != 0 {
			got = errs
		}
		if !strings.Contains(got, st.want) {
			t.Fatalf("%s: output %q does not contain %q", st.name, got, st.want)
		}
	}
	// -all also revoked the expiring token and older JWTs.
	if ok, err := b.Tokens.Check(ctx, "demo", "alice", "cccc3333", time.Hour); err != nil || ok {
		t.Fatalf("expiring token after revoke -all: %v %v", ok, err)
	}
	if ok, err := b.Tokens.CheckJWT(ctx, "demo", "alice", "j", time.Now().Add(-time.Minute), ""); err != nil || ok {
		t.Fatalf("older JWT after revoke -all: %v %v", ok, err)
	}
}

package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseSentinelURL(t *testing.T) {
	cases := []struct {
		raw  string
		want SentinelURL
		err  string
	}{
		{"redis+sentinel://h1:26379,h2:26380/mymaster", SentinelURL{Sentinels: []string{"h1:26379", "h2:26380"}, MasterName: "mymaster"}, ""},
		{"rediss+sentinel://ctiws:s%40cret@h1:26379/m/2", SentinelURL{TLS: true, Username: "ctiws", Password: "s@cret", Sentinels: []string{"h1:26379"}, MasterName: "m", DB: 2}, ""},
		{"redis+sentinel://:pw@[::1]:26379/m", SentinelURL{Password: "pw", Sentinels: []string{"[::1]:26379"}, MasterName: "m"}, ""},
		{"redis+sentinel://h1:26379", SentinelURL{}, "master name"},
		{"redis+sentinel://h1/m", SentinelURL{}, "host:port"},
		{"redis+sentinel://h1:0/m", SentinelURL{}, "bad port"},
		{"redis+sentinel://h1:1/m/x", SentinelURL{}, "database"},
		{"redis+sentinel://h1:1/m?sentinel_password=x", SentinelURL{}, "query"},
		{"redis://h1:1/m", SentinelURL{}, "not a"},
	}
	for _, c := range cases {
		got, err := ParseSentinelURL(c.raw)
		checkParsed(t, c.raw, got, err, c.want, c.err)
	}
}

// checkParsed checks one parse: an error containing wantErr when it is
// set, else no error and want.
func checkParsed[T any](t *testing.T, raw string, got T, err error, want T, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: err %v, want %q", raw, err, wantErr)
		}
		return
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("%s: %+v, %v; want %+v", raw, got, err, want)
	}
}

func TestParseClusterURL(t *testing.T) {
	cases := []struct {
		raw  string
		want ClusterURL
		err  string
	}{
		{"redis+cluster://h1:7000,h2:7001,h3:7002", ClusterURL{Nodes: []string{"h1:7000", "h2:7001", "h3:7002"}}, ""},
		{"rediss+cluster://ctiws:s%40cret@h1:7000/", ClusterURL{TLS: true, Username: "ctiws", Password: "s@cret", Nodes: []string{"h1:7000"}}, ""},
		{"redis+cluster://:pw@[::1]:7000/0", ClusterURL{Password: "pw", Nodes: []string{"[::1]:7000"}}, ""},
		{"redis+cluster://h1:7000/2", ClusterURL{}, "database 0 only"},
		{"redis+cluster://h1", ClusterURL{}, "host:port"},
		{"redis+cluster://h1:7000,", ClusterURL{}, "host:port"},
		{"redis+cluster://h1:70000", ClusterURL{}, "bad port"},
		{"redis+cluster://h1:1?read_only=1", ClusterURL{}, "query"},
		{"redis+sentinel://h1:1/m", ClusterURL{}, "not a"},
	}
	for _, c := range cases {
		got, err := ParseClusterURL(c.raw)
		checkParsed(t, c.raw, got, err, c.want, c.err)
	}
}

func TestRedisConfigErrorsNameTheFieldAndHideThePassword(t *testing.T) {
	const tenant = "tenants:\n  - id: demo\n    ami: {address: sim}\n    auth: {enabled: false}\n    users_file: u\n    profiles_file: p\n"
	cases := []struct {
		name, yaml, field string
	}{
		{"bad scheme", "redis_url: http://u:topsecret@x\n", "redis_url"},
		{"sentinel without master", "redis_url: redis+sentinel://u:topsecret@h:1\n", "redis_url"},
		{"sentinel bad host", "redis_url: redis+sentinel://u:topsecret@h/m\n", "redis_url"},
		{"both passwords", "redis_url: redis://h:1\nredis_password: topsecret\nredis_password_file: f\n", "redis_password"},
		{"sentinel password on plain url", "redis_url: redis://h:1\nredis_sentinel_password: topsecret\n", "redis_sentinel_password"},
		{"tls files without rediss", "redis_url: redis://h:1\nredis_tls_ca_file: ca.pem\n", "redis_tls_ca_file"},
		{"cert without key", "redis_url: rediss://h:1\nredis_tls_cert_file: c.pem\n", "redis_tls_cert_file"},
		{"password without url", "redis_password: topsecret\n", "redis_password"},
		{"cluster bad host", "redis_url: redis+cluster://u:topsecret@h\n", "redis_url"},
		{"cluster with a database", "redis_url: redis+cluster://u:topsecret@h:1/3\n", "redis_url"},
		{"sentinel password on a cluster", "redis_url: redis+cluster://h:1\nredis_sentinel_password: topsecret\n", "redis_sentinel_password"},
		{"tls files without rediss+cluster", "redis_url: redis+cluster://h:1\nredis_tls_ca_file: ca.pem\n", "redis_tls_ca_file"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.yaml+tenant), nil)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if !strings.HasPrefix(err.Error(), c.field+":") {
			t.Errorf("%s: %q does not start with the field %s", c.name, err, c.field)
		}
		if strings.Contains(err.Error(), "topsecret") {
			t.Errorf("%s: %q shows the password", c.name, err)
		}
	}
	for _, ok := range []string{
		"redis_url: redis://h:1/0\nredis_username: ctiws\nredis_password: x\n",
		"redis_url: rediss://h:1\nredis_tls_ca_file: ca.pem\nredis_tls_cert_file: c\nredis_tls_key_file: k\n",
		"redis_url: redis+sentinel://a:1,b:2,c:3/mymaster\nredis_sentinel_password: s\n",
		"redis_url: rediss+sentinel://u:p@a:1/m\n",
		"redis_url: redis+cluster://a:1,b:2,c:3\nredis_username: ctiws\nredis_password: x\n",
		"redis_url: rediss+cluster://u:p@a:1\nredis_tls_ca_file: ca.pem\n",
	} {
		if _, err := Parse([]byte(ok+tenant), nil); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
}

func TestRedisPasswordFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("u.json", `{}`)
	write("p.json", `{}`)
	write("redis.pw", "data-secret\n")
	write("sentinel.pw", "sentinel-secret\n")
	write("empty.pw", "\n")
	base := "redis_url: redis+sentinel://a:1/m\n" + strings.ReplaceAll(minimal, ".json", ".json")
	for _, c := range []struct {
		extra, err string
	}{
		{"redis_password_file: redis.pw\nredis_sentinel_password_file: sentinel.pw\n", ""},
		{"redis_password_file: missing.pw\n", "redis_password_file"},
		{"redis_sentinel_password_file: empty.pw\n", "redis_sentinel_password_file"},
	} {
		path := filepath.Join(dir, "ctiws.yaml")
		write("ctiws.yaml", c.extra+base)
		cfg, err := Load(path, nil)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err %v, want %s", c.extra, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", c.extra, err)
		}
		if cfg.RedisPassword != "data-secret" || cfg.RedisSentinelPassword != "sentinel-secret" {
			t.Errorf("passwords read = %q, %q", cfg.RedisPassword, cfg.RedisSentinelPassword)
		}
	}
	// The environment sets the password too (CTIWS_REDIS_PASSWORD).
	cfg, err := Parse([]byte("redis_url: redis://h:1\n"+minimal), []string{"CTIWS_REDIS_PASSWORD=from-env"})
	if err != nil || cfg.RedisPassword != "from-env" {
		t.Fatalf("env password: %v, %q", err, cfg.RedisPassword)
	}
}

package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const minimal = `
tenants:
  - id: demo
    ami: {address: sim}
    auth: {enabled: false}
    users_file: u.json
    profiles_file: p.json
`

func TestParseDefaultsAndEnv(t *testing.T) {
	c, err := Parse([]byte(minimal), []string{"CTIWS_LISTEN=0.0.0.0:9000", "CTIWS_TOKEN_TTL=2h", "CTIWS_MAX_MESSAGE_BYTES=2048", "OTHER=1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "0.0.0.0:9000" || c.TokenTTL != 2*time.Hour || c.MaxMessageBytes != 2048 || c.DrainTimeout != 10*time.Second || c.Tenants[0].Privacy() != "xxx" {
		t.Fatalf("%+v", c)
	}
	empty := ""
	c.Tenants[0].PrivacyNumbers = &empty
	if c.Tenants[0].Privacy() != "" {
		t.Fatal("explicit empty privacy string must disable masking")
	}
}

func TestParseErrors(t *testing.T) {
	tenant := func(extra string) string {
		return "tenants:\n  - id: demo\n    ami: {address: sim}\n    auth: {enabled: false}\n    users_file: u\n    profiles_file: p\n" + extra
	}
	tests := []struct {
		name, yaml string
		env        []string
		wantField  string
	}{
		{"unknown field", "listne: x\n" + tenant(""), nil, "listne"},
		{"wrong type", "max_message_bytes: lots\n" + tenant(""), nil, "max_message_bytes"},
		{"bad duration", "token_ttl: forever\n" + tenant(""), nil, "token_ttl"},
		{"no tenants", "listen: 127.0.0.1:1\n", nil, "tenants"},
		{"duplicate tenant", tenant("  - id: demo\n    hosts: [a]\n    ami: {address: sim}\n    users_file: u\n    profiles_file: p\n"), nil, "hosts"},
		{"bad tenant id", strings.Replace(tenant(""), "id: demo", "id: Demo!", 1), nil, "id"},
		{"bad ami address", strings.Replace(tenant(""), "address: sim", "address: nowhere", 1), nil, "ami.address"},
		{"auth without credentials", strings.Replace(tenant(""), "enabled: false", "enabled: true", 1), nil, "auth"},
		{"bad listen", "listen: nope\n" + tenant(""), nil, "listen"},
		{"env bad duration", tenant(""), []string{"CTIWS_DRAIN_TIMEOUT=soon"}, "CTIWS_DRAIN_TIMEOUT"},
		{"env bad int", tenant(""), []string{"CTIWS_MAX_MESSAGE_BYTES=big"}, "CTIWS_MAX_MESSAGE_BYTES"},
		{"env bad number", tenant(""), []string{"CTIWS_OWNER_START_RATE=fast"}, "CTIWS_OWNER_START_RATE"},
		{"message limit too small", "max_message_bytes: 10\n" + tenant(""), nil, "max_message_bytes"},
		{"unknown read mode", "ws_read_mode: poll\n" + tenant(""), nil, "ws_read_mode"},
		{"owner start rate zero", "owner_start_rate: 0\n" + tenant(""), nil, "owner_start_rate"},
		{"owner start rate negative", "owner_start_rate: -5\n" + tenant(""), nil, "owner_start_rate"},
		{"htpasswd poll interval zero", "htpasswd_poll_interval: 0s\n" + tenant(""), nil, "htpasswd_poll_interval"},
		{"redis scheme", "redis_url: http://x\n" + tenant(""), nil, "redis_url"},
		{"streaming without id", tenant("    streaming: [{url: \"http://x/y.jpg\"}]\n"), nil, "streaming[0].id"},
		{"streaming bad url", tenant("    streaming: [{id: gate, url: \"ftp://x\"}]\n"), nil, "streaming[0].url"},
		{"streaming framerate", tenant("    streaming: [{id: gate, url: \"http://x\", framerate: 100}]\n"), nil, "framerate"},
		{"duplicate streaming id", tenant("    streaming: [{id: a, url: \"http://x\"}, {id: A, url: \"http://y\"}]\n"), nil, "streaming[1].id"},
		{"env bad bool", tenant(""), []string{"CTIWS_PPROF=maybe"}, "CTIWS_PPROF"},
		{"alarm secret too short", strings.Replace(tenant(""), "enabled: false", "enabled: false, alarm_secret: short", 1), nil, "alarm_secret"},
		{"jwt secret too short", strings.Replace(tenant(""), "auth: {enabled: false}", "auth: {jwt_secret: \"x\"}", 1), nil, "auth.jwt_secret:"},
		{"jwt secret of 15", strings.Replace(tenant(""), "auth: {enabled: false}", "auth: {jwt_secret: 0123456789abcde}", 1), nil, "auth.jwt_secret:"},
		{"previous jwt secret too short", strings.Replace(tenant(""), "auth: {enabled: false}", "auth: {jwt_secret: 0123456789abcdef, jwt_secret_previous: short-old}", 1), nil, "auth.jwt_secret_previous:"},
		{"jwt_clock_skew zero", "jwt_clock_skew: 0s\n" + tenant(""), nil, "jwt_clock_skew"},
		{"bcrypt_per_address zero", "bcrypt_per_address: 0\n" + tenant(""), nil, "bcrypt_per_address"},
		{"bcrypt_per_user zero", "bcrypt_per_user: 0\n" + tenant(""), nil, "bcrypt_per_user"},
		{"alarm secret twice", strings.Replace(tenant(""), "enabled: false", "enabled: false, alarm_secret: 0123456789abcdef, alarm_secret_file: f", 1), nil, "alarm_secret_file"},
		{"jwt_max_lifetime zero", "jwt_max_lifetime: 0s\n" + tenant(""), nil, "jwt_max_lifetime"},
		{"max_persistent_tokens zero", "max_persistent_tokens: 0\n" + tenant(""), nil, "max_persistent_tokens"},
		{"login_free_failures negative", "login_free_failures: -1\n" + tenant(""), nil, "login_free_failures"},
		{"login_address_free_failures zero", "login_address_free_failures: 0\n" + tenant(""), nil, "login_address_free_failures"},
		{"backoff max below base", "login_backoff_base: 1m\nlogin_backoff_max: 1s\n" + tenant(""), nil, "login_backoff_max"},
		{"bad trusted proxy", "trusted_proxies: [\"10.0.0.0/33\"]\n" + tenant(""), nil, "trusted_proxies[0]"},
		{"bcrypt_concurrency zero", "bcrypt_concurrency: 0\n" + tenant(""), nil, "bcrypt_concurrency"},
		{"bcrypt_queue env", tenant(""), []string{"CTIWS_BCRYPT_QUEUE=0"}, "bcrypt_queue"},
		{"previous secret without a current one", strings.Replace(tenant(""), "auth: {enabled: false}", "auth: {jwt_secret_previous: old-secret-0123456789}", 1), nil, "jwt_secret_previous"},
		{"sim rate on real pbx", strings.Replace(tenant(""), "address: sim", "address: \"10.0.0.1:5038\", sim_calls_per_second: 3", 1), nil, "sim_calls_per_second"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), tt.env)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.wantField) {
				t.Fatalf("error %q does not name %q", err, tt.wantField)
			}
			for _, secret := range []string{"0123456789abcde", "short-old"} {
				if strings.Contains(tt.yaml, secret) && strings.Contains(err.Error(), secret) {
					t.Fatalf("error %q shows the secret", err)
				}
			}
		})
	}
}

func TestLoadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("u.json", `{"alice":{"endpoints":{"mainextension":{"201":{}}}}}`)
	write("p.json", `{}`)
	write("secret", "s3cr3t-0123456789\n")
	write("short", "s3cr3t\n")
	write("c.yaml", "tenants:\n  - id: demo\n    ami: {address: \"127.0.0.1:5038\", username: u, secret_file: secret}\n    auth: {jwt_secret_file: secret}\n    users_file: u.json\n    profiles_file: p.json\n")
	c, err := Load(filepath.Join(dir, "c.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tn := c.Tenants[0]
	if tn.AMI.Secret != "s3cr3t-0123456789" || tn.Auth.JWTSecret != "s3cr3t-0123456789" || tn.Directory == nil {
		t.Fatalf("%+v", tn)
	}
	if _, ok := tn.Directory.User("alice"); !ok {
		t.Fatal("users not loaded")
	}
	// A short alarm secret in a file is refused, naming the field.
	write("c3.yaml", "tenants:\n  - id: demo\n    ami: {address: sim}\n    auth: {enabled: false, alarm_secret_file: short}\n    users_file: u.json\n    profiles_file: p.json\n")
	if _, err := Load(filepath.Join(dir, "c3.yaml"), nil); err == nil || !strings.Contains(err.Error(), "alarm_secret_file") {
		t.Fatalf("short alarm secret file: %v", err)
	}
	// So are short JWT secrets in files, never showing them.
	for _, field := range []string{"jwt_secret_file", "jwt_secret_previous_file"} {
		auth := "{jwt_secret: 0123456789abcdef, jwt_secret_previous_file: short}"
		if field == "jwt_secret_file" {
			auth = "{jwt_secret_file: short}"
		}
		write("c4.yaml", "tenants:\n  - id: demo\n    ami: {address: sim}\n    auth: "+auth+"\n    users_file: u.json\n    profiles_file: p.json\n")
		_, err := Load(filepath.Join(dir, "c4.yaml"), nil)
		var ce *Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), field) || strings.Contains(err.Error(), "s3cr3t") {
			t.Fatalf("short %s: %v", field, err)
		}
	}
	// A missing referenced file names the tenant and the file.
	write("c2.yaml", "tenants:\n  - id: demo\n    ami: {address: sim}\n    auth: {enabled: false}\n    users_file: missing.json\n    profiles_file: p.json\n")
	_, err = Load(filepath.Join(dir, "c2.yaml"), nil)
	var ce *Error
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "missing.json") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Load(filepath.Join(dir, "nope.yaml"), nil); err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("missing config: %v", err)
	}
}

func TestSecurityDefaults(t *testing.T) {
	c, err := Parse([]byte("trusted_proxies: [10.0.0.0/8, \"::1\", 192.0.2.1]\n"+minimal), []string{"CTIWS_JWT_MAX_LIFETIME=336h"})
	if err != nil {
		t.Fatal(err)
	}
	if c.JWTMaxLifetime != 336*time.Hour || c.MaxPersistentTokens != 10 || c.LoginFreeFailures != 5 || c.LoginAddressFreeFailures != 20 ||
		c.LoginBackoffBase != time.Second || c.LoginBackoffMax != 15*time.Minute || c.BcryptConcurrency != 2 || c.BcryptQueue != 16 {
		t.Fatalf("%+v", c)
	}
	p, err := c.TrustedProxyPrefixes()
	if err != nil || len(p) != 3 || p[1].String() != "::1/128" || p[2].String() != "192.0.2.1/32" {
		t.Fatalf("trusted proxies %v %v", p, err)
	}
	if d := Defaults(); d.JWTMaxLifetime != 24*time.Hour {
		t.Fatalf("default jwt_max_lifetime %v, want 24h", d.JWTMaxLifetime)
	}
}

// TestSharedJWTSecretRefused: two tenants with the same JWT secret (also
// through a file, or as one's previous secret) are refused, naming the
// field and the other tenant.
func TestSharedJWTSecretRefused(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("u.json", `{}`)
	write("p.json", `{}`)
	write("secret", "Zq9shared-0123456789\n")
	tenant := func(id, auth string) string {
		return "  - id: " + id + "\n    hosts: [" + id + ".example]\n    ami: {address: sim}\n    auth: " + auth + "\n    users_file: u.json\n    profiles_file: p.json\n"
	}
	tests := []struct {
		name, a, b string
		wantErr    string
	}{
		{"distinct secrets", "{jwt_secret: secret-of-tenant-one}", "{jwt_secret: secret-of-tenant-two}", ""},
		{"same inline secret", "{jwt_secret: Zq9shared-0123456789}", "{jwt_secret: Zq9shared-0123456789}", "tenants[1] (b).auth.jwt_secret"},
		{"same secret through a file", "{jwt_secret: Zq9shared-0123456789}", "{jwt_secret_file: secret}", "tenants[1] (b).auth.jwt_secret"},
		{"previous secret of another tenant", "{jwt_secret: secret-of-tenant-one, jwt_secret_previous: Zq9shared-0123456789}", "{jwt_secret: Zq9shared-0123456789}", "tenants[1] (b).auth.jwt_secret"},
		{"rotation within one tenant", "{jwt_secret: secret-of-tenant-one, jwt_secret_previous: old-secret-0123456789}", "{jwt_secret: secret-of-tenant-two}", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			write("c.yaml", "tenants:\n"+tenant("a", tt.a)+tenant("b", tt.b))
			_, err := Load(filepath.Join(dir, "c.yaml"), nil)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), `tenant "a"`) {
				t.Fatalf("err = %v, want one naming %s and tenant a", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "Zq9shared-0123456789") {
				t.Fatalf("error leaks the secret: %v", err)
			}
		})
	}
}

// TestFingerprint: a tenant's fingerprint is stable while nothing changes
// and changes with its entry, its files and its secrets, and only its own.
func TestFingerprint(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	entry := func(id, privacy, users string) string {
		return "  - id: " + id + "\n    hosts: [" + id + ".test]\n    ami: {address: \"127.0.0.1:5038\", username: u, secret_file: secret}\n    privacy_numbers: \"" + privacy + "\"\n    auth: {jwt_secret_file: jwt-" + id + "}\n    users_file: " + users + "\n    profiles_file: p.json\n"
	}
	load := func(cfg string) (a, b string) {
		write("c.yaml", "tenants:\n"+cfg)
		c, err := Load(filepath.Join(dir, "c.yaml"), nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Tenants[0].Fingerprint, c.Tenants[1].Fingerprint
	}
	write("u.json", `{"alice":{"endpoints":{"mainextension":{"201":{}}}}}`)
	write("u2.json", `{"bob":{"endpoints":{"mainextension":{"202":{}}}}}`)
	write("p.json", `{}`)
	write("secret", "s3cr3t\n")
	write("jwt-a", "jwt-secret-of-a-0123\n")
	write("jwt-b", "jwt-secret-of-b-0123\n")
	a0, b0 := load(entry("a", "xxx", "u.json") + entry("b", "xxx", "u2.json"))
	if a0 == "" || a0 == b0 {
		t.Fatalf("fingerprints %q %q: want set and different", a0, b0)
	}
	for _, tc := range []struct {
		name   string
		change func() string
		aSame  bool
	}{
		{"nothing", func() string { return entry("a", "xxx", "u.json") + entry("b", "xxx", "u2.json") }, true},
		{"privacy", func() string { return entry("a", "***", "u.json") + entry("b", "xxx", "u2.json") }, false},
		{"users file", func() string {
			write("u.json", `{"alice":{"endpoints":{"mainextension":{"203":{}}}}}`)
			return entry("a", "xxx", "u.json") + entry("b", "xxx", "u2.json")
		}, false},
		{"secret file", func() string {
			write("jwt-a", "another-secret-of-a\n")
			return entry("a", "xxx", "u.json") + entry("b", "xxx", "u2.json")
		}, false},
		{"objects file", func() string {
			write("o.json", `{}`)
			return entry("a", "xxx", "u.json") + "    objects_file: o.json\n" + entry("b", "xxx", "u2.json")
		}, false},
		{"objects file contents", func() string {
			write("o.json", `{"confbridge_prefix": "987"}`)
			return entry("a", "xxx", "u.json") + "    objects_file: o.json\n" + entry("b", "xxx", "u2.json")
		}, false},
	} {
		a, b := load(tc.change())
		if (a == a0) != tc.aSame {
			t.Errorf("%s: tenant a's fingerprint unchanged = %v, want %v", tc.name, a == a0, tc.aSame)
		}
		if b != b0 {
			t.Errorf("%s: tenant b's fingerprint changed", tc.name)
		}
		a0, b0 = a, b
	}
}

// TestTenantsDir: each folder of tenants_dir is a tenant with its files;
// broken or conflicting folders are refused one by one, with the file named.
func TestTenantsDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tenant := func(hosts string) string {
		return "hosts: [" + hosts + "]\nami: {address: \"127.0.0.1:5038\", username: u, secret: s}\nauth: {jwt_secret: jwt-secret-of-" + hosts + "}\nusers_file: u.json\nprofiles_file: p.json\n"
	}
	files := func(folder string) {
		write(folder+"/u.json", `{"alice":{"endpoints":{"mainextension":{"201":{}}}}}`)
		write(folder+"/p.json", `{}`)
	}
	write("c.yaml", "tenants_dir: farm\ntenants:\n  - id: inline\n    hosts: [inline.test]\n    ami: {address: sim}\n    auth: {jwt_secret: jwt-secret-of-inline}\n    users_file: farm/good/u.json\n    profiles_file: farm/good/p.json\n")
	for _, f := range []string{"good", "broken", "dup-host", "badid", "nofiles", "same-jwt"} {
		files("farm/" + f)
	}
	write("farm/good/tenant.yaml", tenant("good.test"))
	files("farm/other")
	write("farm/other/tenant.yaml", tenant("other.test"))
	write("farm/broken/tenant.yaml", "hosts: [broken.test]\nami: {adress: sim}\n")
	write("farm/dup-host/tenant.yaml", tenant("GOOD.test"))
	write("farm/badid/tenant.yaml", "id: other\n"+tenant("badid.test"))
	write("farm/nofiles/tenant.yaml", strings.Replace(tenant("nofiles.test"), "u.json", "missing.json", 1))
	write("farm/same-jwt/tenant.yaml", strings.Replace(tenant("same-jwt.test"), "jwt-secret-of-same-jwt.test", "jwt-secret-of-inline", 1))
	write("farm/.hidden/tenant.yaml", "garbage")
	write("farm/notafolder", "x")
	c, err := Load(filepath.Join(dir, "c.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tn := range c.Tenants {
		ids = append(ids, tn.ID)
	}
	if strings.Join(ids, ",") != "inline,other" {
		t.Fatalf("tenants %v, want inline and other", ids)
	}
	good := c.Tenants[1]
	if good.Directory == nil || good.UsersFile != filepath.Join(dir, "farm", "other", "u.json") || good.Fingerprint == "" {
		t.Fatalf("good tenant not loaded from its folder: %+v", good)
	}
	for folder, want := range map[string]string{"broken": "adress", "dup-host": "also used by tenant(s) good", "good": "also used by tenant(s) dup-host", "badid": "differs from its folder", "nofiles": "missing.json", "same-jwt": "JWT secret is also configured for tenant(s) inline"} {
		err := c.TenantErrors[folder]
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), filepath.Join(dir, "farm", folder, "tenant.yaml")) {
			t.Errorf("folder %s: error %v, want one naming the file and saying %q", folder, err, want)
		}
	}
	if len(c.TenantErrors) != 6 {
		t.Errorf("TenantErrors = %v, want the 6 refused folders only", c.TenantErrors)
	}
	if strings.Contains(fmt.Sprint(c.TenantErrors), "jwt-secret-of-inline") {
		t.Errorf("an error leaks a JWT secret: %v", c.TenantErrors)
	}
	// Only an unreadable tenants_dir fails the whole configuration.
	write("c2.yaml", "tenants_dir: nowhere\n")
	if _, err := Load(filepath.Join(dir, "c2.yaml"), nil); err == nil || !strings.Contains(err.Error(), "tenants_dir") {
		t.Fatalf("missing tenants_dir: %v", err)
	}
}

// A CTIWS_ variable that sets no field is reported, with the field it most
// likely meant; known variables, other commands' variables and others'
// prefixes are not.
func TestUnknownEnvVars(t *testing.T) {
	env := []string{
		"CTIWS_LISTEN=x", "CTIWS_TOKEN_TTL=1h", // config fields
		"CTIWS_WATCH_PASSWORD=pw",      // another command's
		"HOME=/root", "XCTIWS_LISTN=1", // not ours
		"CTIWS_LISTN=:80",                    // typo of LISTEN
		"CTIWS_DRAIN_TIMOUT=5s",              // typo of DRAIN_TIMEOUT
		"CTIWS_TENANTS=a",                    // a field, but not a scalar
		"CTIWS_COMPLETELY_UNRELATED_THING=1", // nothing close
		// Kubernetes service links of Services ctiws and ctiws-redis.
		"CTIWS_SERVICE_HOST=10.0.0.1", "CTIWS_SERVICE_PORT=8181", "CTIWS_SERVICE_PORT_HTTP=8181",
		"CTIWS_PORT=tcp://10.0.0.1:8181", "CTIWS_PORT_8181_TCP=tcp://10.0.0.1:8181",
		"CTIWS_PORT_8181_TCP_PROTO=tcp", "CTIWS_PORT_8181_TCP_PORT=8181", "CTIWS_PORT_8181_TCP_ADDR=10.0.0.1",
		"CTIWS_REDIS_SERVICE_HOST=10.0.0.2", "CTIWS_REDIS_PORT_6379_TCP_ADDR=10.0.0.2",
	}
	got := UnknownEnvVars(env, "CTIWS_WATCH_PASSWORD")
	want := []UnknownEnv{
		{"CTIWS_COMPLETELY_UNRELATED_THING", ""},
		{"CTIWS_DRAIN_TIMOUT", "CTIWS_DRAIN_TIMEOUT"},
		{"CTIWS_LISTN", "CTIWS_LISTEN"},
		{"CTIWS_TENANTS", ""},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

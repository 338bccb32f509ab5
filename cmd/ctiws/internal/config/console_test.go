package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConsoleConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("u.json", `{}`)
	write("p.json", `{}`)
	write("console.htpasswd", "admin:$2a$04$H1pWi6PxqwXV8kv9sOU2Pekr.hCYPcyKHCld21DDSGk6OPRLEULL6\n")
	write("short", "abc\n")
	write("secret", "0123456789abcdef0123\n")
	tenant := "tenants:\n  - id: demo\n    ami: {address: sim}\n    auth: {enabled: false}\n    users_file: u.json\n    profiles_file: p.json\n"
	cases := []struct {
		name, console string
		wantErr       string
		check         func(t *testing.T, c Console)
	}{
		{"off by default", "", "", func(t *testing.T, c Console) {
			if c.Enabled() {
				t.Error("console enabled without configuration")
			}
		}},
		{"on with defaults", "console: {htpasswd_file: console.htpasswd, unmasked_users: [admin]}\n", "", func(t *testing.T, c Console) {
			if !c.Enabled() || len(c.Htpasswd) == 0 || c.SessionTTL != 8*time.Hour || c.AuditMax != 1000 || c.SessionSecret != nil {
				t.Errorf("%+v", c)
			}
		}},
		{"session secret", "console: {htpasswd_file: console.htpasswd, session_secret_file: secret}\n", "", func(t *testing.T, c Console) {
			if string(c.SessionSecret) != "0123456789abcdef0123" {
				t.Errorf("secret %q", c.SessionSecret)
			}
		}},
		{"short session secret", "console: {htpasswd_file: console.htpasswd, session_secret_file: short}\n", "console.session_secret_file", nil},
		{"missing htpasswd", "console: {htpasswd_file: nope}\n", "console.htpasswd_file", nil},
		{"settings while off", "console: {unmasked_users: [admin]}\n", "console", nil},
		{"no metrics listener", "metrics_listen: \"\"\nconsole: {htpasswd_file: console.htpasswd}\n", "metrics_listen", nil},
		{"bad session ttl", "console: {htpasswd_file: console.htpasswd, session_ttl: 1s}\n", "console.session_ttl", nil},
		{"bad audit cap", "console: {htpasswd_file: console.htpasswd, audit_max: 1}\n", "console.audit_max", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			write("c.yaml", tc.console+tenant)
			c, err := Load(filepath.Join(dir, "c.yaml"), nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c.Console)
		})
	}
}

package main

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctiws/ctiws/cmd/ctiws/internal/config"
)

func TestWatchPasswordSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("from-file\r\nsecond line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(empty, []byte("\n"), 0o600)
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == watchPasswordEnv {
				return v
			}
			return ""
		}
	}
	prompt := func(pw string, err error) func() (string, error) {
		return func() (string, error) { return pw, err }
	}
	tests := []struct {
		name    string
		src     passwordSources
		want    string
		wantErr string
	}{
		{"flag", passwordSources{flag: "from-flag", getenv: env("from-env")}, "from-flag", ""},
		{"file before env", passwordSources{file: file, getenv: env("from-env")}, "from-file", ""},
		{"env before prompt", passwordSources{getenv: env("from-env"), prompt: prompt("typed", nil)}, "from-env", ""},
		{"prompt", passwordSources{getenv: env(""), prompt: prompt("typed", nil)}, "typed", ""},
		{"flag and file", passwordSources{flag: "x", file: file}, "", "not both"},
		{"missing file", passwordSources{file: filepath.Join(dir, "nope")}, "", "-password-file"},
		{"empty file", passwordSources{file: empty}, "", "empty"},
		{"prompt fails", passwordSources{prompt: prompt("", errors.New("EOF"))}, "", "read password"},
		{"nothing, no terminal", passwordSources{getenv: env("")}, "", watchPasswordEnv},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := watchPassword(tt.src)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestRedisURLErrorHidesThePassword: go-redis quotes the URL in its parse
// errors; the node's error shows it redacted.
func TestRedisURLErrorHidesThePassword(t *testing.T) {
	raw := "redis://:s3cr3t@host:port/0"
	_, perr := url.Parse(raw)
	for _, err := range []error{perr, errors.New("redis: invalid URL " + raw)} {
		got := redisURLError(raw, err).Error()
		if strings.Contains(got, "s3cr3t") || !strings.Contains(got, "redis://:xxxxx@host:port/0") {
			t.Errorf("%q: want the URL with its password redacted", got)
		}
	}
	// A password in the query, in a URL that parses (go-redis refuses the
	// option) and in one that does not (url.Parse quotes it), in the
	// userinfo form, and in a sentinel or cluster URL: never shown.
	for _, raw := range []string{
		"redis://h:6379/0?password=s3cr3t",
		"redis://h:6379/0?db=0&Password=s3cr3t",
		"redis://h:port/0?password=s3cr3t",
		"redis://h:6379/0?password=s3cr3t&x=%zz",
		"redis://:s3cr3t@h:port/0",
		"redis+sentinel://h:1/m?sentinel_password=s3cr3t",
		"redis+cluster://h:1?password=s3cr3t",
	} {
		_, err := redisClientFactory(&config.Config{RedisURL: raw})
		if err == nil {
			t.Errorf("%s: accepted", config.RedactURL(raw))
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "xxxxx") {
			t.Errorf("%q: want the URL shown with its password redacted", err)
		}
		if _, err := config.Parse([]byte("redis_url: "+raw+"\ntenants:\n  - id: a\n    ami: {address: sim}\n    users_file: u\n    profiles_file: p\n"), nil); err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("config: %q shows the password", err)
		}
	}
}

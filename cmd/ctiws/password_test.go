package main

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
}

package config

import (
	"strings"
	"testing"
	"time"
)

func TestLimitDefaultsAndErrors(t *testing.T) {
	c, err := Parse([]byte(minimal), []string{"CTIWS_HTTP_IDLE_TIMEOUT=5s", "CTIWS_RELAY_RATE=2"})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPReadTimeout != 15*time.Second || c.HTTPWriteTimeout != 15*time.Second || c.HTTPIdleTimeout != 5*time.Second ||
		c.HTTPMaxHeaderBytes != 16<<10 || c.MaxAvatarBytes != 256<<10 || c.MaxAvatarDimension != 1024 ||
		c.MaxPostitBytes != 4<<10 || c.RelayMaxBytes != 4<<10 || c.RelayRate != 2 || c.RelayBurst != 20 || c.RelayDisconnectAfter != 100 ||
		c.UserAvatarRate != 0.1 || c.UserAvatarBurst != 3 || c.MaxSocketsPerUser != 16 {
		t.Fatalf("defaults/env: %+v", c)
	}
	for _, tt := range []struct{ line, field string }{
		{"http_read_timeout: 0s", "http_read_timeout"},
		{"http_write_timeout: 1h", "http_write_timeout"},
		{"http_idle_timeout: -1s", "http_idle_timeout"},
		{"http_max_header_bytes: 10", "http_max_header_bytes"},
		{"max_avatar_bytes: 0", "max_avatar_bytes"},
		{"max_avatar_bytes: 2000000", "max_avatar_bytes"},
		{"max_avatar_dimension: 100000", "max_avatar_dimension"},
		{"max_postit_bytes: 1", "max_postit_bytes"},
		{"relay_max_bytes: 100000000", "relay_max_bytes"},
		{"relay_rate: 0", "relay_rate"},
		{"relay_burst: -3", "relay_burst"},
		{"relay_disconnect_after: 0", "relay_disconnect_after"},
		{"user_relay_rate: 0", "user_relay_rate"},
		{"user_avatar_rate: -1", "user_avatar_rate"},
		{"user_postit_burst: 0", "user_postit_burst"},
		{"user_presence_rate: 100000", "user_presence_rate"},
		{"max_sockets_per_user: 0", "max_sockets_per_user"},
		{"max_pending_commands_per_user: 0", "max_pending_commands_per_user"},
		{"max_concurrent_commands: 5000", "max_concurrent_commands"},
	} {
		_, err := Parse([]byte(tt.line+"\n"+minimal), nil)
		if err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: error %v does not name %s", tt.line, err, tt.field)
		}
	}
}

// TestRedisURLErrorsHideThePassword: a malformed redis_url is reported
// with the password redacted.
func TestRedisURLErrorsHideThePassword(t *testing.T) {
	for _, u := range []string{
		"redis://user:s3cr%t@host:6379/0",  // bad escape: url.Parse fails
		"redis://:s3cr3t@host:port/0",      // bad port
		"http://admin:s3cr3t@redis:6379/0", // bad scheme
	} {
		_, err := Parse([]byte("redis_url: \""+u+"\"\n"+minimal), nil)
		if err == nil {
			t.Errorf("%s accepted", u)
			continue
		}
		if strings.Contains(err.Error(), "s3cr") || !strings.Contains(err.Error(), "xxxxx") || !strings.Contains(err.Error(), "redis_url") {
			t.Errorf("error %q: want redis_url named, the URL shown and its password redacted", err)
		}
	}
	for in, want := range map[string]string{
		"redis://:pw@h:6379/0":      "redis://:xxxxx@h:6379/0",
		"redis://u:p%zz@h:6379":     "redis://u:xxxxx@h:6379",
		"redis://u:p@ss@w@h:1/0":    "redis://u:xxxxx@h:1/0",
		"redis://h:6379/0":          "redis://h:6379/0",
		"u:secret@h":                "u:xxxxx@h",
		"rediss://default:x@h:6380": "rediss://default:xxxxx@h:6380",
		// Passwords in the query, parsed or not, whatever the key's case.
		"redis://h:6379/0?password=s3cr3t":                           "redis://h:6379/0?password=xxxxx",
		"redis://h:6379/0?db=1&Password=s3cr3t&dial_timeout=1s":      "redis://h:6379/0?db=1&Password=xxxxx&dial_timeout=1s",
		"redis://h:1/0?sentinel_password=s3cr3t&sentinelPass=s3cr3t": "redis://h:1/0?sentinel_password=xxxxx&sentinelPass=xxxxx",
		"redis://h:1/0?pa%73sword=s3cr3t":                            "redis://h:1/0?pa%73sword=xxxxx",
		"redis://h:port/0?password=s3cr3t%zz":                        "redis://h:port/0?password=xxxxx",
		"redis://u:p%zz@h:1/0?password=s3cr3t#frag":                  "redis://u:xxxxx@h:1/0?password=xxxxx#frag",
		"redis://h:1/0?password=s3@cr3t":                             "redis://h:1/0?password=xxxxx",
		"redis://:a?b@h:1/?password=s3cr3t":                          "redis://:xxxxx@h:1/?password=xxxxx",
		"redis://h:1/0?passthrough":                                  "redis://h:1/0?passthrough",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

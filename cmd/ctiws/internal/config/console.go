package config

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ctiws/ctiws/ws/auth"
)

// Console configures the operator console on metrics_listen
// (docs/operations.md, "The operator console"). It is off unless
// htpasswd_file is set.
type Console struct {
	// HtpasswdFile holds the console's users (bcrypt hashes, htpasswd -B);
	// relative to the config file.
	HtpasswdFile string `yaml:"htpasswd_file"`
	// UnmaskedUsers may see numbers unmasked.
	UnmaskedUsers []string `yaml:"unmasked_users"`
	// SessionSecretFile holds the key that signs session cookies; nodes
	// that share it accept each other's sessions (behind one Service).
	// Empty: a random key per node.
	SessionSecretFile string `yaml:"session_secret_file"`
	// SessionTTL is how long a console login lasts (default 8h).
	SessionTTL time.Duration `yaml:"session_ttl"`
	// AuditMax caps the audit log kept in the store (default 1000).
	AuditMax int `yaml:"audit_max"`

	// Htpasswd and SessionSecret are the files' contents (set by Load).
	Htpasswd      []byte `yaml:"-"`
	SessionSecret []byte `yaml:"-"`
}

// Enabled reports whether the console is configured.
func (c Console) Enabled() bool { return c.HtpasswdFile != "" }

// loadConsole resolves the console's files against the config's folder
// (abs) and reads them.
func (c *Config) loadConsole(abs func(string) string) error {
	cc := &c.Console
	if !cc.Enabled() {
		return nil
	}
	cc.HtpasswdFile = abs(cc.HtpasswdFile)
	b, err := os.ReadFile(cc.HtpasswdFile)
	if err != nil {
		return fmt.Errorf("console.htpasswd_file: %w", err)
	}
	if _, err := auth.ParseHtpasswd(b); err != nil {
		return fmt.Errorf("console.htpasswd_file: %w", err)
	}
	cc.Htpasswd = b
	if cc.SessionSecretFile != "" {
		cc.SessionSecretFile = abs(cc.SessionSecretFile)
		s, err := os.ReadFile(cc.SessionSecretFile)
		if err != nil {
			return fmt.Errorf("console.session_secret_file: %w", err)
		}
		if cc.SessionSecret = []byte(strings.TrimSpace(string(s))); len(cc.SessionSecret) < 16 {
			return fmt.Errorf("console.session_secret_file: the secret must have at least 16 characters")
		}
	}
	return nil
}

// validateConsole checks the console's settings and fills defaults.
func (c *Config) validateConsole() error {
	cc := &c.Console
	if !cc.Enabled() {
		if len(cc.UnmaskedUsers) > 0 || cc.SessionSecretFile != "" {
			return fmt.Errorf("console: settings without console.htpasswd_file (the console is off)")
		}
		return nil
	}
	if c.MetricsListen == "" {
		return fmt.Errorf("console: needs metrics_listen (the console is served there)")
	}
	if cc.SessionTTL == 0 {
		cc.SessionTTL = 8 * time.Hour
	}
	if cc.SessionTTL < time.Minute || cc.SessionTTL > 7*24*time.Hour {
		return fmt.Errorf("console.session_ttl: must be between 1m and 168h, got %v", cc.SessionTTL)
	}
	if cc.AuditMax == 0 {
		cc.AuditMax = 1000
	}
	if cc.AuditMax < 10 || cc.AuditMax > 100_000 {
		return fmt.Errorf("console.audit_max: must be between 10 and 100000, got %d", cc.AuditMax)
	}
	return nil
}

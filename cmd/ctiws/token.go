package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/ctiws/ctiws/ws/auth"
)

// cmdToken prints an HS256 JWT for a user of a tenant, signed with the
// tenant's jwt_secret and bound to the tenant (audience "ctiws:<tenant>"),
// for scripts, tests and `ctiws bench`. Its lifetime cannot exceed
// jwt_max_lifetime (the nodes would refuse it).
func cmdToken(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file")
	tenant := fs.String("tenant", "", "tenant id (default: the only tenant)")
	user := fs.String("user", "", "username")
	ttl := fs.Duration("ttl", time.Hour, "token lifetime")
	if err := fs.Parse(args); err != nil {
		return errUsage{err}
	}
	cfg, _, err := loadConfig(*path, stderr)
	if err != nil {
		return err
	}
	if *user == "" {
		return usageErr("token needs -user")
	}
	if *ttl <= 0 || *ttl > cfg.JWTMaxLifetime {
		return usageErr("-ttl %v: must be positive and at most jwt_max_lifetime (%v)", *ttl, cfg.JWTMaxLifetime)
	}
	t, err := pickTenant(cfg, *tenant)
	if err != nil {
		return err
	}
	if t.Auth.JWTSecret == "" {
		return usageErr("tenant %s has no jwt_secret", t.ID)
	}
	u, ok := t.Directory.User(*user)
	if !ok {
		return usageErr("tenant %s has no user %q", t.ID, *user)
	}
	tok, err := auth.SignJWT(u.Username, t.ID, []byte(t.Auth.JWTSecret), *ttl, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

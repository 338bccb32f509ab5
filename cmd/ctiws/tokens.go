package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cmd/ctiws/internal/config"
	"github.com/prometheus/client_golang/prometheus"
)

// cmdTokens lists and revokes a user's tokens in the cluster store:
//
//	ctiws tokens list   -config FILE [-tenant T] -user U
//	ctiws tokens revoke -config FILE [-tenant T] -user U -hash PREFIX
//	ctiws tokens revoke -config FILE [-tenant T] -user U -all
//
// list prints the user's persistent (auth-exp: no-exp) tokens, oldest
// first, by the prefix of their SHA-256 (tokens are never stored in clear).
// revoke -hash deletes one of them; revoke -all revokes every token of the
// user cluster-wide (persistent, expiring and JWTs issued until now), like
// a password change. It needs redis_url: the in-memory backend lives inside
// the running node and cannot be reached from another process.
func cmdTokens(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "list" && args[0] != "revoke" {
		return usageErr("usage: ctiws tokens list|revoke -config FILE [-tenant T] -user U [-hash PREFIX | -all]")
	}
	verb := args[0]
	fs := flag.NewFlagSet("tokens "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file")
	tenant := fs.String("tenant", "", "tenant id (default: the only tenant)")
	user := fs.String("user", "", "username")
	hash := fs.String("hash", "", "revoke: the persistent token whose hash starts with this (as listed)")
	all := fs.Bool("all", false, "revoke: every token of the user, JWTs included")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage{err}
	}
	cfg, _, err := loadConfig(*path, stderr)
	if err != nil {
		return err
	}
	if *user == "" {
		return usageErr("tokens %s needs -user", verb)
	}
	if verb == "revoke" && (*hash == "") == !*all {
		return usageErr("tokens revoke needs exactly one of -hash PREFIX or -all")
	}
	t, err := pickTenant(cfg, *tenant)
	if err != nil {
		return err
	}
	username := strings.ToLower(*user)
	if u, ok := t.Directory.User(*user); ok {
		username = strings.ToLower(u.Username)
	}
	if cfg.RedisURL == "" {
		return usageErr("tokens needs redis_url: with the in-memory backend the tokens live inside the running node " +
			"and no other process can reach them (restarting the node drops them all)")
	}
	cfg.NodeID = fmt.Sprintf("tokens-cli-%d", os.Getpid())
	backend, _, err := newRedisBackend(ctx, cfg, newLogger(stderr, "error"), prometheus.NewRegistry())
	if err != nil {
		return err
	}
	defer backend.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	list, err := backend.Tokens.Persistent(ctx, t.ID, username)
	if err != nil {
		return err
	}
	switch {
	case verb == "list":
		fmt.Fprintf(stdout, "%d persistent token(s) of %s/%s\n", len(list), t.ID, username)
		for _, p := range list {
			fmt.Fprintf(stdout, "%s  %s\n", p.Hash[:min(16, len(p.Hash))], p.Created.UTC().Format(time.RFC3339))
		}
		return nil
	case *all:
		n, err := backend.Tokens.RevokeUser(ctx, t.ID, username, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked every token of %s/%s (%d persistent deleted; older expiring tokens and JWTs refused from now on)\n", t.ID, username, n)
		return nil
	default:
		return revokeOne(ctx, backend, t.ID, username, list, strings.ToLower(*hash), stdout)
	}
}

// revokeOne deletes the one persistent token whose hash starts with prefix.
func revokeOne(ctx context.Context, b cluster.Backend, tenant, user string, list []cluster.PersistentToken, prefix string, stdout io.Writer) error {
	var match []cluster.PersistentToken
	for _, p := range list {
		if strings.HasPrefix(p.Hash, prefix) {
			match = append(match, p)
		}
	}
	switch len(match) {
	case 0:
		return fmt.Errorf("no persistent token of %s/%s has a hash starting with %q", tenant, user, prefix)
	case 1:
	default:
		return usageErr("%d tokens match -hash %q: give more characters", len(match), prefix)
	}
	if err := b.Tokens.Delete(ctx, tenant, user, match[0].Hash); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked %s of %s/%s\n", match[0].Hash[:min(16, len(match[0].Hash))], tenant, user)
	return nil
}

// pickTenant returns the tenant named id, or the only one when id is empty.
func pickTenant(cfg *config.Config, id string) (*config.Tenant, error) {
	for i := range cfg.Tenants {
		t := &cfg.Tenants[i]
		if id != "" && t.ID == id || id == "" && len(cfg.Tenants) == 1 {
			return t, nil
		}
	}
	return nil, usageErr("no such tenant %q (use -tenant with several tenants)", id)
}

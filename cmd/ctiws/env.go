package main

import (
	"log/slog"

	"github.com/ctiws/ctiws/cmd/ctiws/internal/config"
)

// otherEnv are the CTIWS_ environment variables that are not config
// overrides: `ctiws watch`'s password and the e2e suite's binary path.
func otherEnv() []string {
	return []string{watchPasswordEnv, "CTIWS_BIN"}
}

// warnUnknownEnv logs one line per CTIWS_ variable of env that sets no
// config field, naming the field it probably meant: the config loader
// ignores them, so a misspelled override would otherwise go unnoticed.
func warnUnknownEnv(log *slog.Logger, env []string) {
	for _, u := range config.UnknownEnvVars(env, otherEnv()...) {
		if u.Suggestion != "" {
			log.Warn("environment variable matches no config field, ignored", "variable", u.Name, "did_you_mean", u.Suggestion)
			continue
		}
		log.Warn("environment variable matches no config field, ignored", "variable", u.Name)
	}
}

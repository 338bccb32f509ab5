package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ctiws/ctiws/ami/sim"
	"go.yaml.in/yaml/v3"
)

// cmdAmisim runs the simulated Asterisk on a TCP port. SIGUSR1 drops every
// client connection; SIGUSR2 simulates an Asterisk restart.
func cmdAmisim(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("amisim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:5038", "TCP address to listen on")
	cfgPath := fs.String("config", "", "simulator configuration (YAML, fields of sim.Config); default: a small NethVoice-like PBX")
	cps := fs.Float64("calls-per-second", -1, "override calls_per_second")
	changes := fs.Float64("changes-per-second", -1, "override changes_per_second (bench traffic)")
	seed := fs.Int64("seed", 0, "override seed (0: keep)")
	user := fs.String("username", "", "override AMI username")
	secret := fs.String("secret", "", "override AMI secret")
	var transcripts multiFlag
	fs.Var(&transcripts, "transcript", "replay this transcript file (repeatable: one per connection)")
	if err := fs.Parse(args); err != nil {
		return errUsage{err}
	}
	cfg := sim.DefaultConfig()
	if *cfgPath != "" {
		raw, err := os.ReadFile(*cfgPath)
		if err != nil {
			return usageErr("amisim config: %v", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return usageErr("amisim config %s: %v", *cfgPath, err)
		}
	}
	if *cps >= 0 {
		cfg.CallsPerSecond = *cps
	}
	if *changes >= 0 {
		cfg.ChangesPerSecond = *changes
	}
	if *seed != 0 {
		cfg.Seed = *seed
	}
	if *user != "" {
		cfg.Username = *user
	}
	if *secret != "" {
		cfg.Secret = *secret
	}
	if len(transcripts) > 0 {
		cfg.Transcripts = transcripts
	}
	if err := cfg.Validate(); err != nil {
		return usageErr("amisim config: %v", err)
	}
	log := newLogger(stderr, "info")
	s := sim.New(cfg, log)
	addr, err := s.Listen(ctx, *listen)
	if err != nil {
		return fmt.Errorf("amisim listen %s: %w", *listen, err)
	}
	log.Info("simulated Asterisk listening", "address", addr.String(), "username", cfg.Username,
		"calls_per_second", cfg.CallsPerSecond, "changes_per_second", cfg.ChangesPerSecond)
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sig)
	for {
		select {
		case <-ctx.Done():
			return s.Close()
		case v := <-sig:
			if v == syscall.SIGUSR1 {
				log.Info("dropping every AMI connection (SIGUSR1)")
				s.DropAll()
			} else {
				log.Info("simulating an Asterisk restart (SIGUSR2)")
				s.Restart(2 * time.Second)
			}
		}
	}
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

package sim

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestDefaultConfigValid(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigYAML(t *testing.T) {
	raw, err := os.ReadFile("testdata/sim.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Parking.Timeout != 45*time.Second || cfg.AvgRingTime != 3*time.Second || len(cfg.Extensions) != 4 || cfg.Secret != "s3cret" {
		t.Fatalf("decoded %+v", cfg)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no username", func(c *Config) { c.Username = "" }, "username is empty"},
		{"duplicate extension", func(c *Config) { c.Extensions[1].ID = c.Extensions[0].ID }, "duplicate id"},
		{"bad extension id", func(c *Config) { c.Extensions[0].ID = "20-1" }, "must be 1-32 characters"},
		{"unknown member", func(c *Config) { c.Queues[0].Static = append(c.Queues[0].Static, "999") }, "not a configured extension"},
		{"trunk is extension", func(c *Config) { c.Trunk.Name = "201" }, "also an extension"},
		{"parking range", func(c *Config) { c.Parking.Stop = 70 }, "parking"},
		{"negative rate", func(c *Config) { c.CallsPerSecond = -1 }, "calls_per_second"},
		{"zero mix", func(c *Config) { c.Mix = Mix{} }, "all weights are zero"},
		{"bad transcript", func(c *Config) { c.Transcripts = []string{"Event: X\nbad\n"} }, "transcript 1: line 2"},
		{"missing transcript file", func(c *Config) { c.Transcripts = []string{"testdata/nope.ami"} }, "open transcript"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mod(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

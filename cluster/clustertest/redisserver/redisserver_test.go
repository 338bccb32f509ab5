package redisserver

import (
	"testing"
	"time"
)

func TestStartRestartStop(t *testing.T) {
	s := Start(t)
	if r, err := s.Do("SET k v"); err != nil || r != "+OK" {
		t.Fatalf("SET = %q, %v", r, err)
	}
	s.Restart(50 * time.Millisecond)
	if r, err := s.Do("GET k"); err != nil || r != "$-1" {
		t.Fatalf("GET after restart = %q, %v (want nil: no persistence)", r, err)
	}
	s.Stop()
	if _, err := s.Do("PING"); err == nil {
		t.Fatal("server still answers after Stop")
	}
	s.Stop()
}

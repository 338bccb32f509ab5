package periodic

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestEvery: fn runs repeatedly, never before the first period, and Every
// returns once ctx ends.
func TestEvery(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int32
	done := make(chan struct{})
	start := time.Now()
	var first atomic.Int64
	go func() {
		Every(ctx, 5*time.Millisecond, func(context.Context) {
			if n.Add(1) == 1 {
				first.Store(int64(time.Since(start)))
			}
		})
		close(done)
	}()
	for n.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Every did not return after cancel")
	}
	if time.Duration(first.Load()) < 5*time.Millisecond {
		t.Fatalf("first call after %v, before one period", time.Duration(first.Load()))
	}
}

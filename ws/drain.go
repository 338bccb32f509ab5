package ws

import (
	"context"
	"time"
)

// BeginDrain makes the node refuse new sockets and report not ready, at
// once; Shutdown then closes the open ones.
func (s *Server) BeginDrain() { s.draining.Store(true) }

// Shutdown refuses new sockets and closes the open ones in small batches
// spread over the context's deadline (drain_timeout), without `41`, so
// clients reconnect elsewhere without a storm.
func (s *Server) Shutdown(ctx context.Context) {
	s.draining.Store(true)
	conns := s.snapshotConns()
	if len(conns) == 0 {
		return
	}
	window := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		// Keep a fifth of the window for the last batch to flush.
		window = time.Until(dl) * 4 / 5
	}
	const batches = 20
	per := (len(conns) + batches - 1) / batches
	step := window / batches
	for i := 0; i < len(conns); i += per {
		end := min(i+per, len(conns))
		for _, c := range conns[i:end] {
			c.closeTransport(reasonShutdown)
		}
		if end < len(conns) {
			select {
			case <-ctx.Done():
				for _, c := range conns[end:] {
					c.closeTransport(reasonShutdown)
				}
				return
			case <-time.After(step):
			}
		}
	}
	// Wait until the transports are gone (or the deadline).
	for {
		s.connsMu.RLock()
		n := len(s.conns)
		s.connsMu.RUnlock()
		if n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

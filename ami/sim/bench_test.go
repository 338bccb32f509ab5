package sim

import (
	"io"
	"testing"
	"time"
)

// drainClients logs n raw clients in and discards everything they receive.
func drainClients(b *testing.B, addr string, n int) {
	for range n {
		c := dial(b, addr)
		c.login("proxycti", "proxycti")
		_ = c.conn.SetReadDeadline(time.Time{})
		go io.Copy(io.Discard, c.br)
	}
}

// BenchmarkGenerateEvents measures generated call traffic written to four
// connections: each op advances the simulated clock by 10 ms at 500
// calls/s.
func BenchmarkGenerateEvents(b *testing.B) {
	cfg := fastConfig(1)
	cfg.CallsPerSecond = 500
	cfg.StartPaused = true
	s, addr := startServer(b, cfg)
	drainClients(b, addr, 4)
	before := s.Stats().Events
	b.ResetTimer()
	for range b.N {
		s.mu.Lock()
		s.pbx.advance(s.pbx.now + 10*time.Millisecond)
		s.mu.Unlock()
	}
	b.StopTimer()
	ev := s.Stats().Events - before
	b.ReportMetric(float64(ev)/float64(b.N), "events/op")
	b.ReportMetric(float64(ev)/b.Elapsed().Seconds(), "events/s")
	if d := s.Stats().SlowClientDrops; d > 0 {
		b.Logf("%d slow clients dropped", d)
	}
}

// BenchmarkBenchChanges measures bench ContactStatus changes written to
// four connections.
func BenchmarkBenchChanges(b *testing.B) {
	cfg := testConfig()
	s, addr := startServer(b, cfg)
	drainClients(b, addr, 4)
	b.ResetTimer()
	for range b.N {
		s.mu.Lock()
		s.benchChange()
		s.mu.Unlock()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "changes/s")
}

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

// TestBenchPresence: with BenchPresence every bench change first moves the
// extension's device state (in use, then idle again) and then carries the
// marker, so the client sees the presence change before the marker.
func TestBenchPresence(t *testing.T) {
	cfg := testConfig()
	cfg.BenchPresence = true
	cfg.Extensions = ExtensionRange(201, 201)
	cfg.Queues = nil
	s, addr := startServer(t, cfg)
	c := dial(t, addr)
	c.login("proxycti", "proxycti")
	for _, want := range []string{"INUSE", "NOT_INUSE", "INUSE"} {
		s.mu.Lock()
		s.benchChange()
		s.mu.Unlock()
		var got []string
		for {
			m := c.read()
			ev := m.Get("Event")
			got = append(got, ev)
			if ev == "DeviceStateChange" && (m.Get("Device") != "PJSIP/201" || m.Get("State") != want) {
				t.Fatalf("DeviceStateChange %s %s, want PJSIP/201 %s", m.Get("Device"), m.Get("State"), want)
			}
			if ev == "ContactStatus" {
				if _, _, ok := ParseBenchUserAgent(m.Get("UserAgent")); !ok {
					t.Fatalf("ContactStatus without a bench marker: %v", m)
				}
				break
			}
		}
		if len(got) < 2 || got[0] != "DeviceStateChange" {
			t.Fatalf("events of one change: %v, want the device state first", got)
		}
	}
}

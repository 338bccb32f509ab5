package sim

// Stats is a snapshot of the server's counters.
type Stats struct {
	// Clients is the number of logged-in connections now.
	Clients int
	// Accepted counts accepted TCP connections.
	Accepted uint64
	// Events counts events generated (each counted once, whoever received
	// it).
	Events uint64
	// EventsWritten counts event copies queued to connections.
	EventsWritten uint64
	// BytesWritten counts bytes written to sockets.
	BytesWritten uint64
	// Actions counts messages received from clients.
	Actions uint64
	// SlowClientDrops counts clients disconnected because their output
	// queue exceeded MaxPendingBytes.
	SlowClientDrops uint64
	// Scenarios counts generated scenarios started.
	Scenarios uint64
	// Channels is the number of live channels now.
	Channels int
	// BenchChanges counts bench changes emitted; BenchPerExtension splits
	// them by extension id.
	BenchChanges      uint64
	BenchPerExtension map[string]uint64
	// TranscriptsPlayed counts connections whose transcript (replay mode)
	// was played to its last step.
	TranscriptsPlayed int
	// UnexpectedActions lists, in arrival order, the actions no transcript
	// step expected (Ping and Login aside), as "Key=Value" pairs without
	// ActionID; they were answered with the default answer.
	UnexpectedActions []string
}

// Stats returns the current counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	per := make(map[string]uint64, len(s.benchPerExt))
	for k, v := range s.benchPerExt {
		per[k] = v
	}
	live := 0
	for c := range s.clients {
		if c.alive() {
			live++
		}
	}
	return Stats{
		Clients:           live,
		Accepted:          s.st.accepted.Load(),
		Events:            s.st.events.Load(),
		EventsWritten:     s.st.eventsWritten.Load(),
		BytesWritten:      s.st.bytesWritten.Load(),
		Actions:           s.st.actions.Load(),
		SlowClientDrops:   s.st.slowDrops.Load(),
		Scenarios:         s.pbx.calls,
		Channels:          len(s.pbx.chans),
		BenchChanges:      s.st.benchChanges.Load(),
		BenchPerExtension: per,
		TranscriptsPlayed: s.replayEnds,
		UnexpectedActions: append([]string(nil), s.unexpected...),
	}
}

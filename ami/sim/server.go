package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Server is a simulated Asterisk AMI server. Create it with New, start it
// with Listen or Serve, stop it with Close. All methods are safe for
// concurrent use.
type Server struct {
	cfg Config
	log *slog.Logger

	// mu guards the PBX state, the client set and the control flags. Events
	// are queued to every client while mu is held, and action answers are
	// queued under the same lock, so every connection sees events and
	// answers in state order.
	mu          sync.Mutex
	pbx         *pbx
	clients     map[*client]struct{} // logged in: receive events
	conns       map[*client]struct{} // every open connection
	scratch     []byte
	transcripts []*Transcript
	loadErr     error
	loaded      bool
	replayConns int // logged-in connections so far (transcript selection)
	// replayEnds counts connections whose transcript was played to its end;
	// unexpected lists actions a transcript did not expect (answered with
	// the default), for tests that hold a transcript to be complete.
	replayEnds  int
	unexpected  []string
	downUntil   time.Time
	paused      bool
	closed      bool
	started     bool
	listeners   []net.Listener
	addr        net.Addr
	benchSeq    uint64
	benchPerExt map[string]uint64

	bgCtx    context.Context
	bgCancel context.CancelFunc
	wg       sync.WaitGroup
	nextID   atomic.Uint64
	st       counters
	received receivedLog
}

// counters are the Stats counters.
type counters struct {
	accepted, events, eventsWritten, bytesWritten, actions, slowDrops, benchChanges atomic.Uint64
}

// New returns a server for cfg. Zero operational fields (AMIVersion,
// AsteriskVersion, WriteTimeout, MaxPendingBytes) get their DefaultConfig
// values; the rest of cfg is checked by Listen/Serve (see Config.Validate).
// A nil log discards logging; the server adds "component":"amisim" to its
// lines itself (pass a logger without it: JSON logs must not repeat a key).
func New(cfg Config, log *slog.Logger) *Server {
	def := DefaultConfig()
	if cfg.AMIVersion == "" {
		cfg.AMIVersion = def.AMIVersion
	}
	if cfg.AsteriskVersion == "" {
		cfg.AsteriskVersion = def.AsteriskVersion
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = def.WriteTimeout
	}
	if cfg.MaxPendingBytes <= 0 {
		cfg.MaxPendingBytes = def.MaxPendingBytes
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	epoch := cfg.Epoch
	if epoch == 0 {
		epoch = time.Now().Unix()
	}
	s := &Server{
		cfg:         cfg,
		log:         log.With("component", "amisim"),
		clients:     map[*client]struct{}{},
		conns:       map[*client]struct{}{},
		paused:      cfg.StartPaused,
		benchPerExt: map[string]uint64{},
	}
	s.pbx = newPBX(&s.cfg, epoch, s.broadcast)
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	return s
}

// replayMode reports whether the server plays transcripts.
func (s *Server) replayMode() bool { return len(s.cfg.Transcripts) > 0 }

// prepare validates the configuration and loads the transcripts once.
func (s *Server) prepare() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loaded {
		return s.loadErr
	}
	s.loaded = true
	if err := s.cfg.Validate(); err != nil {
		s.loadErr = fmt.Errorf("amisim: invalid config: %w", err)
		return s.loadErr
	}
	for i, src := range s.cfg.Transcripts {
		t, err := loadTranscript(src)
		if err != nil {
			s.loadErr = fmt.Errorf("amisim: transcript %d: %w", i+1, err)
			return s.loadErr
		}
		s.transcripts = append(s.transcripts, t)
	}
	return nil
}

// Listen validates the configuration, listens on addr (e.g.
// "127.0.0.1:0") and serves in the background until ctx ends or Close is
// called. It returns the bound address.
func (s *Server) Listen(ctx context.Context, addr string) (net.Addr, error) {
	if err := s.prepare(); err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("amisim: listen %s: %w", addr, err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil, errors.New("amisim: server closed")
	}
	s.addr = ln.Addr()
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.Serve(ctx, ln); err != nil {
			s.log.Error("serve stopped", "err", err)
		}
	}()
	return ln.Addr(), nil
}

// Serve accepts AMI connections on ln until ctx ends or Close is called;
// it closes ln on return. It returns nil on a clean stop.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if err := s.prepare(); err != nil {
		ln.Close()
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return errors.New("amisim: server closed")
	}
	s.listeners = append(s.listeners, ln)
	if s.addr == nil {
		s.addr = ln.Addr()
	}
	s.startBackground()
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer ln.Close()
	s.log.Info("listening", "addr", ln.Addr().String(), "replay", s.replayMode())
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || s.isClosed() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("amisim: accept: %w", err)
		}
		delay = 0
		s.st.accepted.Add(1)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(ctx, conn)
		}()
	}
}

// startBackground starts the generator and bench goroutines once. mu held.
func (s *Server) startBackground() {
	if s.started || s.replayMode() {
		return
	}
	s.started = true
	if s.cfg.CallsPerSecond > 0 {
		s.pbx.scheduleArrival()
	}
	// The clock runs even without generated traffic: the actions clients
	// send (Originate, transfers, parking) play out over time.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.runGenerator(s.bgCtx)
	}()
	if s.cfg.ChangesPerSecond > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.runBench(s.bgCtx)
		}()
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Addr returns the address of the first listener, or nil before Listen.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Close stops listening, disconnects every client, stops the generator and
// waits for all goroutines. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.bgCancel()
	for _, ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// DropAll closes every client connection at once (the PBX state is kept),
// so clients exercise their reconnect path.
func (s *Server) DropAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.conns)
	for c := range s.conns {
		c.close()
	}
	s.log.Info("dropped all connections", "count", n)
}

// Restart simulates an Asterisk restart: every client gets "Event:
// Shutdown" (Restart: True), then all connections close; channels, bridges,
// queue callers and statistics, parked calls and the conference are gone,
// uptime restarts from zero. AstDB, mailboxes and logged-in queue members
// survive. For down, new connections are accepted and closed at once
// (Asterisk not yet up); 0 means up again immediately.
func (s *Server) Restart(down time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.broadcast(NewEvent("Shutdown", privSystem).Add("Shutdown", "Cleanly").Add("Restart", "True"))
	for c := range s.conns {
		c.closeAfterFlush()
	}
	s.downUntil = time.Now().Add(down)
	s.pbx.restart()
	s.log.Info("simulated restart", "down", down)
}

// SetPaused pauses or resumes generated traffic and bench changes. While
// paused the simulated clock stands still; actions are still answered.
func (s *Server) SetPaused(paused bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.paused = paused
}

// Paused reports whether generated traffic is paused.
func (s *Server) Paused() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paused
}

// broadcast queues event m to every logged-in client whose event mask
// accepts its class. mu must be held.
func (s *Server) broadcast(m *Message) {
	s.st.events.Add(1)
	if len(s.clients) == 0 {
		return
	}
	cls := clsAll
	if len(m.Headers) > 1 && m.Headers[1].Key == "Privilege" {
		cls = classOfPrivilege(m.Headers[1].Value)
	}
	s.scratch = m.AppendWire(s.scratch[:0])
	var n uint64
	for c := range s.clients {
		if c.mask&cls == 0 {
			continue
		}
		if c.enqueue(s.scratch) {
			n++
		}
	}
	s.st.eventsWritten.Add(n)
}

package asterisk

import (
	"bufio"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"

	"github.com/ctiws/ctiws/internal/freeport"
)

//go:embed conf/*.conf
var confFS embed.FS

// Defaults of Options.
const (
	// DefaultParkingTimeout is how long a call stays parked before it
	// comes back to the parker.
	DefaultParkingTimeout = 10 * time.Second
	// DefaultSounds is Debian's asterisk-core-sounds-en-gsm folder.
	DefaultSounds = "/usr/share/asterisk/sounds"
	// bootTimeout bounds the wait for a booted Asterisk accepting the AMI
	// login (a busy 2-core machine takes a few seconds).
	bootTimeout = 60 * time.Second
	// stopTimeout is how long Close waits for a graceful stop before it
	// kills Asterisk.
	stopTimeout = 5 * time.Second
	// rtpPorts is the size of the RTP port range.
	rtpPorts = 200
	amiUser  = "ctiws"
)

// Options configure Start.
type Options struct {
	// Prefix is the install prefix printed by scripts/asterisk-build.sh.
	Prefix string
	// Dir is a fresh folder (a test's TempDir) for the configuration
	// (Dir/etc), AstDB (Dir/lib), spool (Dir: Dir/monitor holds
	// recordings, Dir/voicemail the boxes) and logs (Dir/log/full).
	Dir string
	// Log, when set, receives Asterisk's log as it is written.
	Log io.Writer
	// ParkingTimeout is the parked call comeback time (default
	// DefaultParkingTimeout; whole seconds, at least 1).
	ParkingTimeout time.Duration
	// Sounds is the folder holding the en prompts' language folders
	// (default DefaultSounds).
	Sounds string
}

// PBX is a running lab Asterisk. Close stops it.
type PBX struct {
	prefix, dir, run string
	ami, sip, trunk  string
	secret           string
	cmd              *exec.Cmd
	done             chan struct{} // closed when the process has exited
	waitErr          error         // the process's exit, once done is closed
	stopTail         context.CancelFunc
	tailDone         chan struct{}
	closeOnce        sync.Once
	closeErr         error
}

// AMIAddr returns the AMI listener, "127.0.0.1:<port>".
func (p *PBX) AMIAddr() string { return p.ami }

// AMIUser returns the AMI user name (read and write "all").
func (p *PBX) AMIUser() string { return amiUser }

// AMISecret returns the AMI user's secret.
func (p *PBX) AMISecret() string { return p.secret }

// SIPAddr returns the UDP SIP transport, "127.0.0.1:<port>": the registrar
// and the address phones call.
func (p *PBX) SIPAddr() string { return p.sip }

// TrunkAddr returns where the trunk peer must listen, "127.0.0.2:<port>":
// trunk1's contact; calls from 127.0.0.2 are trunk1's.
func (p *PBX) TrunkAddr() string { return p.trunk }

// Dir returns the folder given in Options.Dir.
func (p *PBX) Dir() string { return p.dir }

// MonitorDir returns the folder of MixMonitor's relative file names.
func (p *PBX) MonitorDir() string { return filepath.Join(p.dir, "monitor") }

// VoicemailDir returns the folder of voicemail context default's boxes.
func (p *PBX) VoicemailDir() string { return filepath.Join(p.dir, "voicemail", "default") }

// LogFile returns the path of Asterisk's full log.
func (p *PBX) LogFile() string { return filepath.Join(p.dir, "log", "full") }

// Start renders the lab configuration into o.Dir, starts Asterisk in the
// foreground (a child process: it dies with the test binary's cleanup) and
// returns once it is fully booted and accepts the AMI login. On failure
// nothing is left running and the error carries the tail of Asterisk's log.
func Start(ctx context.Context, o Options) (*PBX, error) {
	if o.Prefix == "" || o.Dir == "" {
		return nil, errors.New("asterisk: Options.Prefix and Options.Dir are required")
	}
	bin := filepath.Join(o.Prefix, "sbin", "asterisk")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("asterisk: no binary in the prefix: %w", err)
	}
	if o.ParkingTimeout <= 0 {
		o.ParkingTimeout = DefaultParkingTimeout
	}
	if o.Sounds == "" {
		o.Sounds = DefaultSounds
	}
	// The control socket's path must fit a sockaddr_un (108 bytes): a
	// short folder of its own, whatever the length of Dir.
	run, err := os.MkdirTemp("/tmp", "ast")
	if err != nil {
		return nil, fmt.Errorf("asterisk: run folder: %w", err)
	}
	// A port picked free can be taken before Asterisk binds it: then
	// start again on new ports.
	for attempt := 1; ; attempt++ {
		p := &PBX{prefix: o.Prefix, dir: o.Dir, run: run, done: make(chan struct{})}
		if err := p.render(o); err != nil {
			os.RemoveAll(run)
			return nil, err
		}
		logFrom := fileSize(p.LogFile())
		err := p.start(ctx, o.Log, logFrom)
		if err == nil {
			return p, nil
		}
		p.stop()
		log := p.logTail(logFrom, 40)
		if attempt < startAttempts && errors.Is(err, errAddrInUse) {
			continue
		}
		os.RemoveAll(run)
		return nil, fmt.Errorf("%w\n--- asterisk log (tail) ---\n%s", err, log)
	}
}

// errAddrInUse: Asterisk could not bind a port it was given.
var errAddrInUse = errors.New("asterisk: a port was taken before Asterisk bound it")

// startAttempts bounds the starts on new ports after a bind failure.
const startAttempts = 3

// fileSize returns the size of path, 0 if it does not exist.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// render writes the configuration and the folders Asterisk expects.
func (p *PBX) render(o Options) error {
	ports, err := pickPorts(4)
	if err != nil {
		return err
	}
	p.ami = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	p.sip = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
	p.trunk = net.JoinHostPort(TrunkIP, strconv.Itoa(ports[2]))
	p.secret = fmt.Sprintf("lab%d", ports[0])
	for _, d := range []string{"etc", "lib", "log", "cache", "agi", "data", "moh", "monitor"} {
		if err := os.MkdirAll(filepath.Join(p.dir, d), 0o755); err != nil {
			return fmt.Errorf("asterisk: %w", err)
		}
	}
	links := map[string]string{
		filepath.Join(p.dir, "data", "sounds"):        o.Sounds,
		filepath.Join(p.dir, "data", "documentation"): filepath.Join(o.Prefix, "var", "lib", "asterisk", "documentation"),
		// Music on hold: a prompt is as good as music for a test.
		filepath.Join(p.dir, "moh", "hold.gsm"): filepath.Join(o.Sounds, "en", "pbx-transfer.gsm"),
	}
	for link, target := range links {
		_ = os.Remove(link) // a second attempt
		if err := os.Symlink(target, link); err != nil {
			return fmt.Errorf("asterisk: %w", err)
		}
	}
	data := confData{
		Dir: p.dir, Prefix: o.Prefix, Run: p.run,
		AMIPort: ports[0], AMIUser: amiUser, AMISecret: p.secret,
		SIPPort: ports[1], TrunkPort: ports[2],
		RTPStart: ports[3], RTPEnd: ports[3] + rtpPorts,
		ParkingSeconds: int((o.ParkingTimeout + time.Second - 1) / time.Second),
		RingGroup:      []string{"202", "203", "204"},
		Forwards: []forward{
			{Family: "CF", On: CFOn, Off: CFOff},
			{Family: "CFB", On: CFBOn, Off: CFBOff},
			{Family: "CFU", On: CFUOn, Off: CFUOff},
		},
	}
	for _, u := range Users() {
		cu := confUser{Ext: u.Ext, Name: u.Name, Dial: u.dial(), Hint: u.hint(), Mailbox: u.Mailbox, VMOnNoAnswer: u.VMOnNoAnswer, Extra: u.Devices[1:]}
		data.Users = append(data.Users, cu)
		for _, d := range u.Devices {
			data.Devices = append(data.Devices, confDevice{ID: d, Name: u.Name, CallerNum: u.Ext, Password: Password(d)})
		}
	}
	tpl, err := template.New("conf").Option("missingkey=error").ParseFS(confFS, "conf/*.conf")
	if err != nil {
		return fmt.Errorf("asterisk: parse the configuration templates: %w", err)
	}
	for _, t := range tpl.Templates() {
		if !strings.HasSuffix(t.Name(), ".conf") {
			continue
		}
		var b strings.Builder
		if err := t.Execute(&b, data); err != nil {
			return fmt.Errorf("asterisk: render %s: %w", t.Name(), err)
		}
		if err := os.WriteFile(filepath.Join(p.dir, "etc", t.Name()), []byte(b.String()), 0o644); err != nil {
			return fmt.Errorf("asterisk: %w", err)
		}
	}
	return nil
}

// confData is what the templates under conf/ see.
type confData struct {
	Dir, Prefix, Run   string
	AMIPort            int
	AMIUser, AMISecret string
	SIPPort, TrunkPort int
	RTPStart, RTPEnd   int
	ParkingSeconds     int
	Users              []confUser
	Devices            []confDevice
	RingGroup          []string
	Forwards           []forward
}

type confUser struct {
	Ext, Name, Dial, Hint string
	Mailbox, VMOnNoAnswer bool
	Extra                 []string // the user's other devices
}

type confDevice struct{ ID, Name, CallerNum, Password string }

// forward is a call forward family with its feature codes.
type forward struct{ Family, On, Off string }

// pickPorts returns n distinct ports free for TCP and UDP on loopback (the
// SIP and trunk ports are UDP; AMI TCP). The last one starts the RTP range.
func pickPorts(n int) ([]int, error) {
	var ports []int
	seen := map[int]bool{}
	for tries := 0; len(ports) < n; tries++ {
		if tries > 100 {
			return nil, errors.New("asterisk: no free ports")
		}
		port, err := freeport.Pick()
		if err != nil {
			return nil, fmt.Errorf("asterisk: %w", err)
		}
		if seen[port] || !udpFree("127.0.0.1", port) || !udpFree(TrunkIP, port) {
			continue
		}
		seen[port] = true
		ports = append(ports, port)
	}
	return ports, nil
}

// udpFree reports whether ip:port can be bound for UDP.
func udpFree(ip string, port int) bool {
	c, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// start runs asterisk -f and waits for the boot and the AMI login; the
// log from offset logFrom on is this start's.
func (p *PBX) start(ctx context.Context, logw io.Writer, logFrom int64) error {
	cmd := exec.Command(filepath.Join(p.prefix, "sbin", "asterisk"), "-f", "-n", "-C", p.confFile())
	cmd.Dir = p.dir
	out := io.Discard
	if logw != nil {
		out = &syncWriter{w: logw}
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("asterisk: start: %w", err)
	}
	p.cmd = cmd
	go func() { p.waitErr = cmd.Wait(); close(p.done) }()
	if logw != nil {
		tctx, cancel := context.WithCancel(context.Background())
		p.stopTail, p.tailDone = cancel, make(chan struct{})
		go func() { defer close(p.tailDone); tailFile(tctx, p.LogFile(), out) }()
	}
	ctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	for {
		err := p.amiLogin(ctx)
		if err == nil {
			return nil
		}
		if strings.Contains(p.logTail(logFrom, 1000), "Address already in use") {
			return errAddrInUse
		}
		select {
		case <-p.done:
			return fmt.Errorf("asterisk: exited at start (%v)", p.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("asterisk: not booted with AMI up: %w (last: %v)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (p *PBX) confFile() string { return filepath.Join(p.dir, "etc", "asterisk.conf") }

// amiLogin logs in to the AMI and waits for FullyBooted (Asterisk sends it
// right after the login once it has booted).
func (p *PBX) amiLogin(ctx context.Context) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", p.ami)
	if err != nil {
		return err
	}
	defer c.Close()
	deadline := time.Now().Add(3 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = c.SetDeadline(deadline)
	r := bufio.NewReader(c)
	if _, err := r.ReadString('\n'); err != nil {
		return fmt.Errorf("banner: %w", err)
	}
	if _, err := fmt.Fprintf(c, "Action: Login\r\nUsername: %s\r\nSecret: %s\r\n\r\n", amiUser, p.secret); err != nil {
		return err
	}
	loggedIn := false
	for {
		msg, err := readMessage(r)
		if err != nil {
			return err
		}
		switch {
		case msg["Response"] == "Error":
			return fmt.Errorf("login refused: %s", msg["Message"])
		case msg["Response"] == "Success":
			loggedIn = true
		case msg["Event"] == "FullyBooted" && loggedIn:
			return nil
		}
	}
}

// readMessage reads one AMI message (Key: Value lines up to a blank line).
func readMessage(r *bufio.Reader) (map[string]string, error) {
	m := map[string]string{}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if len(m) == 0 {
				continue
			}
			return m, nil
		}
		if k, v, ok := strings.Cut(line, ": "); ok {
			m[k] = v
		}
	}
}

// CLI runs one CLI command through the running Asterisk's control socket
// (asterisk -rx) and returns its output.
func (p *PBX) CLI(ctx context.Context, command string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(p.prefix, "sbin", "asterisk"), "-C", p.confFile(), "-rx", command)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("asterisk: CLI %q: %w: %s", command, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Close stops Asterisk (SIGTERM, a graceful stop, then SIGKILL after a
// few seconds), waits for it and removes the run folder. It is safe to
// call twice.
func (p *PBX) Close() error {
	p.closeOnce.Do(func() {
		p.stop()
		p.closeErr = os.RemoveAll(p.run)
	})
	return p.closeErr
}

// stop ends the process and the log tail.
func (p *PBX) stop() {
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(stopTimeout):
				_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
				<-p.done
			}
		}
	}
	if p.stopTail != nil {
		p.stopTail()
		<-p.tailDone
		p.stopTail = nil
	}
}

// logTail returns the last n lines of Asterisk's full log written after
// offset from.
func (p *PBX) logTail(from int64, n int) string {
	b, err := os.ReadFile(p.LogFile())
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	b = b[min(from, int64(len(b))):]
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// syncWriter serialises writes from the process's output and the log tail.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// tailFile copies what is appended to path into w until ctx ends (and
// then what is left).
func tailFile(ctx context.Context, path string, w io.Writer) {
	var f *os.File
	defer func() {
		if f != nil {
			_, _ = io.Copy(w, f)
			f.Close()
		}
	}()
	for {
		if f == nil {
			f, _ = os.Open(path)
		}
		if f != nil {
			_, _ = io.Copy(w, f)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

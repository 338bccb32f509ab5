package ami

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/internal/clip"
	"github.com/ctiws/ctiws/pbx"
)

// Call control (issue 14): what the owner does for the astproxy REST call
// routes. Every value that reaches an action header is either validated
// (numbers with pbx.ValidNumber, ids with validID) or read from the model
// (channel names, contexts): a client string never becomes a Channel,
// Context or Exten header by itself. The rules follow astproxy's
// proxy_logic (which channel is hung up, transferred, parked, recorded);
// docs/compatibility.md lists where ctiws differs.

const (
	// originateTimeout is how long the originating phone rings (the
	// Originate Timeout header, astproxy's CALL_TIMEOUT).
	originateTimeout = 15 * time.Second
	// originateWait bounds the wait for OriginateResponse.
	originateWait = originateTimeout + 10*time.Second
	// actionWait bounds the other call control actions.
	actionWait = 10 * time.Second
)

// convRef is what a command needs of a conversation, copied from the model.
type convRef struct {
	own, peer        string // channel names of the extension and of its partner ("" if none)
	src              string // the conversation's source channel
	ownExt, peerExt  string // extensions owning own and peer ("" for others)
	incoming         bool   // the extension's channel is the destination
	counterpart      string // counterpartNum of the conversation
	recording, muted bool   // the source channel is being recorded (muted)
}

// findConv returns the conversation convID of extension ext.
func (m *Model) findConv(ext, convID string) (convRef, error) {
	if !pbx.ValidID(ext) || convID == "" || len(convID) > 512 {
		return convRef{}, fmt.Errorf("bad extension or conversation id: %w", cluster.ErrCommandInvalid)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.exts[ext]
	if e == nil {
		return convRef{}, fmt.Errorf("unknown extension %s: %w", ext, cluster.ErrCommandNotFound)
	}
	for _, c := range e.chans {
		p := m.pairOf(c)
		if p.id() != convID {
			continue
		}
		r := convRef{own: c.name, src: p.src.name, ownExt: c.ext, incoming: p.src != c,
			recording: p.src.recording, muted: p.src.recMuted}
		if p.peer != nil {
			r.peer, r.peerExt = p.peer.name, p.peer.ext
		}
		if p.src == c {
			r.counterpart = bridgedNum(p.src)
		} else if p.dst != nil {
			r.counterpart = bridgedNum(p.dst)
		}
		return r, nil
	}
	return convRef{}, fmt.Errorf("extension %s has no such conversation: %w", ext, cluster.ErrCommandNotFound)
}

// dialer is what an Originate needs of an extension.
type dialer struct {
	tech, context, name string
}

// dialerOf returns the channel technology, dialplan context and caller name
// of a known extension.
func (m *Model) dialerOf(ext string) (dialer, error) {
	if !pbx.ValidID(ext) {
		return dialer{}, fmt.Errorf("bad extension id %q: %w", safeName(ext), cluster.ErrCommandInvalid)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.exts[ext]
	if e == nil {
		return dialer{}, fmt.Errorf("unknown extension %s: %w", ext, cluster.ErrCommandNotFound)
	}
	d := dialer{tech: "PJSIP", context: e.obj.Context, name: m.extName(ext)}
	switch strings.ToLower(e.obj.ChanType) {
	case "sip":
		d.tech = "SIP"
	case "iax":
		d.tech = "IAX2"
	}
	if !pbx.ValidID(d.context) {
		d.context = "from-internal"
	}
	return d, nil
}

// callerID formats `"Name" <ext>` with the characters that would break
// Asterisk's caller id parser removed from the name.
func callerID(name, ext string) string {
	name = strings.Map(func(r rune) rune {
		switch {
		case r == '"' || r == '<' || r == '>' || r == '\\' || r < 0x20 || r == 0x7f:
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(clip.String(name, 64))
	if name == "" {
		return "<" + ext + ">"
	}
	return `"` + name + `" <` + ext + `>`
}

// validChannel reports whether a channel name read from the model may be
// used inside an application argument (ChanSpy's Data): no separators.
func validChannel(s string) bool {
	if s == "" || len(s) > 128 || strings.HasPrefix(s, "/") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("/-_.@;+", c) >= 0) {
			return false
		}
	}
	return true
}

// control carries out one call control command for user.
func (r *Runner) control(ctx context.Context, conn *Conn, user string, args pbx.CommandArgs) (json.RawMessage, error) {
	m := r.model
	switch a := args.(type) {
	case pbx.Call:
		if !pbx.ValidNumber(a.Number) {
			return nil, fmt.Errorf("ami: call: the number is not dialable: %w", cluster.ErrCommandInvalid)
		}
		d, err := m.dialerOf(a.Exten)
		if err != nil {
			return nil, fmt.Errorf("ami: call: %w", err)
		}
		return r.originate(ctx, conn, "call", d.tech+"/"+a.Exten,
			"Context", d.context, "Exten", a.Number, "Priority", "1",
			"CallerID", callerID(d.name, a.Exten))
	case pbx.PickupConv:
		if _, err := m.dialerOf(a.Exten); err != nil {
			return nil, fmt.Errorf("ami: pickup: %w", err)
		}
		d, err := m.dialerOf(a.Dest)
		if err != nil {
			return nil, fmt.Errorf("ami: pickup: %w", err)
		}
		return r.originate(ctx, conn, "pickup", d.tech+"/"+a.Dest,
			"Context", d.context, "Exten", m.objs.pickupPrefix()+a.Exten, "Priority", "1",
			"CallerID", callerID(d.name, a.Dest))
	case pbx.Hangup:
		cv, err := m.findConv(a.Exten, a.ConvID)
		if err != nil {
			return nil, fmt.Errorf("ami: hangup: %w", err)
		}
		return nil, simple(ctx, conn, "Hangup", "Channel", cv.own)
	case pbx.BlindTransfer:
		if !pbx.ValidNumber(a.To) {
			return nil, fmt.Errorf("ami: blind transfer: the destination is not dialable: %w", cluster.ErrCommandInvalid)
		}
		cv, err := m.findConv(a.Exten, a.ConvID)
		if err != nil {
			return nil, fmt.Errorf("ami: blind transfer: %w", err)
		}
		if cv.peer == "" {
			return nil, fmt.Errorf("ami: blind transfer: the conversation has no other party: %w", cluster.ErrCommandForbidden)
		}
		return nil, simple(ctx, conn, "BlindTransfer", "Channel", cv.own, "Context", m.objs.transferContext(), "Exten", a.To)
	case pbx.AttendedTransfer:
		if !pbx.ValidNumber(a.To) || strings.Contains(a.To, "#") {
			return nil, fmt.Errorf("ami: attended transfer: the destination is not dialable: %w", cluster.ErrCommandInvalid)
		}
		cv, err := m.findConv(a.Exten, a.ConvID)
		if err != nil {
			return nil, fmt.Errorf("ami: attended transfer: %w", err)
		}
		if cv.peer == "" {
			return nil, fmt.Errorf("ami: attended transfer: the conversation has no other party: %w", cluster.ErrCommandForbidden)
		}
		// Atxfer queues the digits as DTMF; "#" ends the collection at
		// once (astproxy does the same).
		return nil, simple(ctx, conn, "Atxfer", "Channel", cv.own, "Context", m.objs.transferContext(), "Exten", a.To+"#")
	case pbx.Park:
		cv, err := m.findConv(a.Exten, a.ConvID)
		if err != nil {
			return nil, fmt.Errorf("ami: park: %w", err)
		}
		var park, ret string
		switch {
		case cv.peer == "":
			return nil, fmt.Errorf("ami: park: the conversation has no other party: %w", cluster.ErrCommandForbidden)
		case a.Applicant == cv.ownExt:
			park, ret = cv.peer, cv.own
		case a.Applicant == cv.peerExt:
			park, ret = cv.own, cv.peer
		default:
			return nil, fmt.Errorf("ami: park: the applicant is not a party of the conversation: %w", cluster.ErrCommandForbidden)
		}
		return nil, simple(ctx, conn, "Park", "Channel", park, "TimeoutChannel", ret)
	case pbx.PickupParking:
		if !pbx.ValidID(a.Parking) {
			return nil, fmt.Errorf("ami: pickup parking: bad parking id: %w", cluster.ErrCommandInvalid)
		}
		d, err := m.dialerOf(a.Dest)
		if err != nil {
			return nil, fmt.Errorf("ami: pickup parking: %w", err)
		}
		m.mu.Lock()
		var ch string
		if p := m.parkings[a.Parking]; p != nil {
			ch = p.ParkedCaller.Channel
		}
		m.mu.Unlock()
		if ch == "" {
			return nil, fmt.Errorf("ami: pickup parking: no call parked in %s: %w", a.Parking, cluster.ErrCommandNotFound)
		}
		return nil, simple(ctx, conn, "Redirect", "Channel", ch, "Context", d.context, "Exten", a.Dest, "Priority", "1")
	case pbx.StartRecord:
		cv, err := m.findConv(a.Exten, a.ConvID)
		if err != nil {
			return nil, fmt.Errorf("ami: start record: %w", err)
		}
		if cv.recording {
			return nil, nil // already recorded (astproxy answers success too)
		}
		return nil, r.startRecord(ctx, conn, a.Exten, cv)
	case pbx.StopRecord:
		cv, err := m.findConv(a.Exten, a.ConvID)
		if err != nil {
			return nil, fmt.Errorf("ami: stop record: %w", err)
		}
		if !cv.recording {
			return nil, fmt.Errorf("ami: stop record: the conversation is not being recorded: %w", cluster.ErrCommandForbidden)
		}
		return nil, simple(ctx, conn, "StopMixMonitor", "Channel", cv.src)
	case pbx.MuteRecord, pbx.UnmuteRecord:
		on := args.CommandName() == pbx.CmdMuteRecord
		conv := convOf(args)
		cv, err := m.findConv(conv.Exten, conv.ConvID)
		if err != nil {
			return nil, fmt.Errorf("ami: %s: %w", args.CommandName(), err)
		}
		if !cv.recording {
			return nil, fmt.Errorf("ami: %s: the conversation is not being recorded: %w", args.CommandName(), cluster.ErrCommandForbidden)
		}
		state := "0"
		if on {
			state = "1"
		}
		return nil, simple(ctx, conn, "MixMonitorMute", "Channel", cv.src, "Direction", "both", "State", state)
	case pbx.Intrude, pbx.Listen:
		conv, dest := convOf(args), spyDest(args)
		cv, err := m.findConv(conv.Exten, conv.ConvID)
		if err != nil {
			return nil, fmt.Errorf("ami: %s: %w", args.CommandName(), err)
		}
		d, err := m.dialerOf(dest)
		if err != nil {
			return nil, fmt.Errorf("ami: %s: %w", args.CommandName(), err)
		}
		spied, err := m.dialerOf(conv.Exten)
		if err != nil {
			return nil, fmt.Errorf("ami: %s: %w", args.CommandName(), err)
		}
		if !validChannel(cv.own) {
			return nil, fmt.Errorf("ami: %s: channel name unusable in ChanSpy: %w", args.CommandName(), cluster.ErrCommandForbidden)
		}
		opts := ",qS" // listen only, quiet, stop when the spied channel hangs up
		if args.CommandName() == pbx.CmdIntrude {
			opts = ",wqS" // whisper: the spy speaks to the spied extension only
		}
		// The spy's phone rings with the spied extension as caller
		// (Asterisk sets it as the channel's caller id and connected line),
		// so it shows whom it listens to (docs/ami-model.md, section 10).
		return nil, simple(ctx, conn, "Originate", "Channel", d.tech+"/"+dest, "Application", "ChanSpy",
			"Data", cv.own+opts, "CallerID", callerID(spied.name, conv.Exten), "Async", "true")
	}
	return nil, fmt.Errorf("ami: command %s is not carried out by the PBX: %w", args.CommandName(), pbx.ErrUnknownCommand)
}

// convOf returns the conversation argument of the conversation commands.
func convOf(a pbx.CommandArgs) pbx.Conv {
	switch x := a.(type) {
	case pbx.MuteRecord:
		return x.Conv
	case pbx.UnmuteRecord:
		return x.Conv
	case pbx.Intrude:
		return x.Conv
	case pbx.Listen:
		return x.Conv
	}
	return pbx.Conv{}
}

func spyDest(a pbx.CommandArgs) string {
	switch x := a.(type) {
	case pbx.Intrude:
		return x.Dest
	case pbx.Listen:
		return x.Dest
	}
	return ""
}

// simple runs one action on a channel and turns an error answer into an
// error: cluster.ErrCommandNotFound (404) when the answer says the channel
// is gone (the model still had it: its Hangup event was on its way), else a
// plain error (500: the PBX refused it).
func simple(ctx context.Context, conn *Conn, name string, kv ...string) error {
	ctx, cancel := context.WithTimeout(ctx, actionWait)
	defer cancel()
	resp, err := do(ctx, conn, name, kv...)
	if err != nil {
		return fmt.Errorf("ami: %s: %w", name, err)
	}
	if err := resp.Err(); err != nil {
		if errors.Is(err, ErrChannelGone) {
			return fmt.Errorf("ami: %s: the PBX no longer has the channel: %w: %w", name, cluster.ErrCommandNotFound, err)
		}
		return fmt.Errorf("ami: %s refused by the PBX: %w", name, err)
	}
	return nil
}

// originateFailure names OriginateResponse Reason codes (the AST_CONTROL
// value the originating channel ended with).
func originateFailure(reason string) string {
	switch reason {
	case "0":
		return "the phone could not be called"
	case "1":
		return "the phone hung up"
	case "3":
		return "the phone did not answer"
	case "5":
		return "the phone is busy"
	case "8":
		return "congestion"
	}
	return "failure (reason " + safeName(reason) + ")"
}

// originate places an Async Originate from channel and waits for its
// OriginateResponse: {"uniqueid": …} of the originating channel on success.
func (r *Runner) originate(ctx context.Context, conn *Conn, what, channel string, kv ...string) (json.RawMessage, error) {
	kv = append([]string{"Channel", channel}, kv...)
	kv = append(kv, "Timeout", fmt.Sprint(originateTimeout.Milliseconds()), "Async", "true")
	a, err := action("Originate", kv...)
	if err != nil {
		return nil, fmt.Errorf("ami: %s: %w", what, err)
	}
	ctx, cancel := context.WithTimeout(ctx, originateWait)
	defer cancel()
	resp, err := conn.ActionUntil(ctx, a, "OriginateResponse")
	if err != nil {
		return nil, fmt.Errorf("ami: %s: %w", what, err)
	}
	if resp.Message != nil {
		if err := resp.Err(); err != nil {
			return nil, fmt.Errorf("ami: %s: Originate refused by the PBX: %w", what, err)
		}
	}
	if len(resp.Items) == 0 {
		return nil, fmt.Errorf("ami: %s: no OriginateResponse", what)
	}
	ev := resp.Items[0]
	if !strings.EqualFold(field(ev, "Response"), "Success") {
		return nil, fmt.Errorf("ami: %s: %s", what, originateFailure(field(ev, "Reason")))
	}
	return json.Marshal(struct {
		UniqueID string `json:"uniqueid"`
	}{field(ev, "Uniqueid")})
}

// recordName is astproxy's recording file name, relative to Asterisk's
// monitor folder: YYYY/MM/DD/exten-<from>-<to>-YYYYMMDD-HHMMSS-<ms>.wav
// with the caller first. The counterpart number comes from caller ids, so
// everything but [0-9A-Za-z+*#_] becomes "_" (no path separators).
func recordName(ext string, cv convRef, now time.Time) (file, path string) {
	other := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune("+*#_", r) {
			return r
		}
		return '_'
	}, clip.String(cv.counterpart, 40))
	if other == "" {
		other = "unknown"
	}
	from, to := other, ext
	if !cv.incoming {
		from, to = ext, other
	}
	file = fmt.Sprintf("exten-%s-%s-%s-%03d.wav", from, to, now.Format("20060102-150405"), now.Nanosecond()/1e6)
	return file, now.Format("2006/01/02/") + file
}

// startRecord sets the FreePBX recording variables astproxy sets (so the
// CDR points to the file) and starts MixMonitor on the source channel. The
// model learns the recording from MixMonitorStart, whoever started it.
func (r *Runner) startRecord(ctx context.Context, conn *Conn, ext string, cv convRef) error {
	file, path := recordName(ext, cv, time.Now())
	for _, v := range [][2]string{
		{"MASTER_CHANNEL(ONETOUCH_REC)", "RECORDING"},
		{"MASTER_CHANNEL(REC_STATUS)", "RECORDING"},
		{"MASTER_CHANNEL(CDR(recordingfile))", file},
		{"MASTER_CHANNEL(ONETOUCH_RECFILE)", file},
	} {
		if err := simple(ctx, conn, "Setvar", "Channel", cv.src, "Variable", v[0], "Value", v[1]); err != nil {
			return fmt.Errorf("ami: start record: %w", err)
		}
	}
	if err := simple(ctx, conn, "MixMonitor", "Channel", cv.src, "File", path, "Options", "a"); err != nil {
		return fmt.Errorf("ami: start record: %w", err)
	}
	return nil
}

package ws

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/pbx"
)

// Call control for physical phones (issue 14): the astproxy REST routes of
// nethcti-server with their permission rules. The node checks the request
// (body, ownership, permissions, number grammar) and queues a typed command
// for the tenant's PBX owner, then waits for the owner's result: 200 on
// success, 400/403/404 when the owner refuses, 500 when the PBX fails the
// action, 504 when no answer comes in time. Nothing is answered 202 "for
// nothing".

const (
	// commandStartWithin is how long an owner may take to pick a command
	// up (an owner change included) before it is dropped unexecuted.
	commandStartWithin = 10 * time.Second
	// originateBudget is what an Originate may take once started: the
	// phone rings up to 15 s before OriginateResponse (ami/control.go).
	originateBudget = 30 * time.Second
	// actionBudget is what the other call control actions may take.
	actionBudget = 15 * time.Second
	// answerMargin is added to a command's whole wait for the node's own
	// answer: the connection's deadlines are moved past both.
	answerMargin = 5 * time.Second
	// busyRetryAfter is the Retry-After of a 429 for too many pending
	// commands (a pending call rings the phone up to 15 s).
	busyRetryAfter = "5"
)

// astproxyRoutes registers the call control routes.
func (a *restAPI) astproxyRoutes() {
	for _, r := range []struct {
		path, route string
		fn          func(*request)
	}{
		{"hangup", "hangup", a.restHangup},
		{"blindtransfer", "blindtransfer", a.restTransfer(false)},
		{"atxfer", "atxfer", a.restTransfer(true)},
		{"park", "park", a.restPark},
		{"pickup_parking", "pickup_parking", a.restPickupParking},
		{"pickup_conv", "pickup_conv", a.restPickupConv},
		{"start_record", "start_record", a.restRecord(pbx.CmdStartRecord)},
		{"stop_record", "stop_record", a.restRecord(pbx.CmdStopRecord)},
		{"mute_record", "mute_record", a.restRecord(pbx.CmdMuteRecord)},
		{"unmute_record", "unmute_record", a.restRecord(pbx.CmdUnmuteRecord)},
		{"intrude", "intrude", a.restSpy(pbx.CmdIntrude)},
		{"start_spy", "start_spy", a.restSpy(pbx.CmdListen)},
	} {
		a.authed("POST /webrest/astproxy/"+r.path, r.route, r.fn)
	}
}

// awaitCommand queues args for the PBX owner and answers with its result.
//
// The wait (up to 40 s for a call) may outlast the server's read and write
// timeouts (http_read_timeout, http_write_timeout, 15 s): the connection's
// deadlines are moved past the wait plus answerMargin first, so the answer
// is written and the request's context is not cancelled by the read
// timeout (net/http cancels it when its background read of an idle
// connection times out). docs/security.md, section 5.
func (a *restAPI) awaitCommand(q *request, args pbx.CommandArgs, budget time.Duration) {
	start := time.Now()
	startWithin := commandStartWithin
	if w := a.commandWait; w > 0 {
		startWithin, budget = w/2, w/2
	}
	a.extendDeadlines(q, start.Add(startWithin+budget+answerMargin))
	cmd := cluster.NewCommand(q.tenant.ID, strings.ToLower(q.user.Username), args).WithReply(start.Add(startWithin))
	if err := a.commands.Send(q.r.Context(), cmd); err != nil {
		a.log.Warn("command queue unavailable", "tenant", q.tenant.ID, "command", cmd.Name, "err", err)
		writeError(q.w, http.StatusServiceUnavailable, "command queue unavailable")
		return
	}
	ctx, cancel := context.WithTimeout(q.r.Context(), startWithin+budget)
	defer cancel()
	res, err := a.commands.Await(ctx, q.tenant.ID, cmd.ID)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		a.refuse(q, "command_timeout", http.StatusGatewayTimeout, "the PBX did not answer in time")
		return
	case err != nil:
		if q.r.Context().Err() != nil {
			return // the client went away
		}
		a.log.Warn("waiting for the PBX owner failed", "tenant", q.tenant.ID, "command", cmd.Name, "err", err)
		writeError(q.w, http.StatusServiceUnavailable, "command queue unavailable")
		return
	}
	if res.Status == http.StatusTooManyRequests {
		q.w.Header().Set("Retry-After", busyRetryAfter)
		a.limitReject(q, "pending_commands", http.StatusTooManyRequests, "too many pending requests of this user")
		return
	}
	if res.Status != http.StatusOK {
		st := res.Status
		if st < 400 || st > 599 {
			st = http.StatusInternalServerError
		}
		a.log.Info("command refused or failed", "tenant", q.tenant.ID, "user", q.user.Username, "command", cmd.Name,
			"status", st, "why", res.Error, "took", time.Since(start).Round(time.Millisecond))
		a.refuse(q, "pbx_"+strconv.Itoa(st), st, res.Error)
		return
	}
	if len(res.Data) > 0 {
		writeJSON(q.w, http.StatusOK, res.Data)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]string{"message": "ok"})
}

// extendDeadlines moves the connection's read and write deadlines to
// until, for a handler that waits longer than the server's timeouts.
func (a *restAPI) extendDeadlines(q *request, until time.Time) {
	rc := http.NewResponseController(q.w)
	for _, set := range []func(time.Time) error{rc.SetWriteDeadline, rc.SetReadDeadline} {
		if err := set(until); err != nil && !errors.Is(err, http.ErrNotSupported) {
			a.log.Debug("call control: connection deadline not extended", "tenant", q.tenant.ID, "err", err)
		}
	}
}

// validConvID reports whether s can be a conversation id (two channel
// names joined by ">"); the owner only compares it with its own ids.
func validConvID(s string) bool {
	if s == "" || len(s) > 512 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// convBody is the body of the conversation routes.
type convBody struct {
	ConvID      string `json:"convid"`
	EndpointID  string `json:"endpointId"`
	To          string `json:"to"`
	ApplicantID string `json:"applicantId"`
	DestID      string `json:"destId"`
}

// decodeConv decodes a conversation body; the fields in need must be set
// and well-formed (400 otherwise, as the original's type checks).
func (a *restAPI) decodeConv(q *request, need ...string) (convBody, bool) {
	var b convBody
	if err := decodeBody(q.r, &b); err != nil {
		writeError(q.w, http.StatusBadRequest, err.Error())
		return b, false
	}
	for _, f := range need {
		ok := true
		switch f {
		case "convid":
			ok = validConvID(b.ConvID)
		case "endpointId":
			ok = pbx.ValidID(b.EndpointID)
		case "applicantId":
			ok = pbx.ValidID(b.ApplicantID)
		case "destId":
			ok = pbx.ValidID(b.DestID)
		case "to":
			b.To = pbx.NormaliseNumber(b.To)
			ok = pbx.ValidNumber(b.To)
		}
		if !ok {
			a.refuse(q, "bad_body", http.StatusBadRequest, "missing or invalid \""+f+"\"")
			return b, false
		}
	}
	return b, true
}

func (a *restAPI) restHangup(q *request) {
	b, ok := a.decodeConv(q, "convid", "endpointId")
	if !ok {
		return
	}
	if !q.user.Perms.AdminHangup && !q.user.Owns(b.EndpointID) {
		a.refuse(q, "control_forbidden", http.StatusForbidden, "the extension is not the user's and the hangup permission is missing")
		return
	}
	a.awaitCommand(q, pbx.Hangup{Conv: pbx.Conv{Exten: b.EndpointID, ConvID: b.ConvID}}, actionBudget)
}

func (a *restAPI) restTransfer(attended bool) func(*request) {
	return func(q *request) {
		b, ok := a.decodeConv(q, "convid", "endpointId", "to")
		if !ok {
			return
		}
		if !q.user.Perms.AdminTransfer && !q.user.Owns(b.EndpointID) {
			a.refuse(q, "control_forbidden", http.StatusForbidden, "the extension is not the user's and the transfer permission is missing")
			return
		}
		conv := pbx.Conv{Exten: b.EndpointID, ConvID: b.ConvID}
		if attended {
			a.awaitCommand(q, pbx.AttendedTransfer{Conv: conv, To: b.To}, actionBudget)
			return
		}
		a.awaitCommand(q, pbx.BlindTransfer{Conv: conv, To: b.To}, actionBudget)
	}
}

func (a *restAPI) restPark(q *request) {
	b, ok := a.decodeConv(q, "convid", "endpointId", "applicantId")
	if !ok {
		return
	}
	if !q.user.Perms.AdminParkings && !q.user.Owns(b.ApplicantID) {
		a.refuse(q, "control_forbidden", http.StatusForbidden, "the applicant is not the user's and the ad_parking permission is missing")
		return
	}
	a.awaitCommand(q, pbx.Park{Conv: pbx.Conv{Exten: b.EndpointID, ConvID: b.ConvID}, Applicant: b.ApplicantID}, actionBudget)
}

func (a *restAPI) restPickupParking(q *request) {
	var b struct {
		Parking string `json:"parking"`
		DestID  string `json:"destId"`
	}
	if err := decodeBody(q.r, &b); err != nil || !pbx.ValidID(b.Parking) || !pbx.ValidID(b.DestID) {
		a.refuse(q, "bad_body", http.StatusBadRequest, "body must be {\"parking\",\"destId\"}")
		return
	}
	u := q.user
	if !u.Perms.Parkings && !u.Perms.AdminParkings {
		a.refuse(q, "control_forbidden", http.StatusForbidden, "parkings permission required")
		return
	}
	if !u.Perms.AdminParkings && !u.Owns(b.DestID) {
		a.refuse(q, "control_forbidden", http.StatusForbidden, "the destination is not the user's and the ad_parking permission is missing")
		return
	}
	a.awaitCommand(q, pbx.PickupParking{Parking: b.Parking, Dest: b.DestID}, actionBudget)
}

func (a *restAPI) restPickupConv(q *request) {
	b, ok := a.decodeConv(q, "endpointId", "destId")
	if !ok {
		return
	}
	if !q.user.Perms.AdminPickup {
		a.refuse(q, "control_forbidden", http.StatusForbidden, "pickup permission required")
		return
	}
	if !q.user.Owns(b.DestID) {
		a.refuse(q, "control_forbidden", http.StatusForbidden, "the destination is not the user's")
		return
	}
	a.awaitCommand(q, pbx.PickupConv{Exten: b.EndpointID, Dest: b.DestID}, originateBudget)
}

// restRecord: start, stop, mute and unmute the recording of a conversation.
// The original lets anyone stop any recording (its checks are commented
// out); here stop needs the same rights as start.
func (a *restAPI) restRecord(kind string) func(*request) {
	return func(q *request) {
		b, ok := a.decodeConv(q, "convid", "endpointId")
		if !ok {
			return
		}
		u := q.user
		if !u.Perms.AdminRecording && !(u.Perms.Recording && u.Owns(b.EndpointID)) {
			a.refuse(q, "control_forbidden", http.StatusForbidden, "recording permission on the user's own extension, or ad_recording, required")
			return
		}
		conv := pbx.Conv{Exten: b.EndpointID, ConvID: b.ConvID}
		var args pbx.CommandArgs
		switch kind {
		case pbx.CmdStartRecord:
			args = pbx.StartRecord{Conv: conv}
		case pbx.CmdStopRecord:
			args = pbx.StopRecord{Conv: conv}
		case pbx.CmdMuteRecord:
			args = pbx.MuteRecord{Conv: conv}
		default:
			args = pbx.UnmuteRecord{Conv: conv}
		}
		a.awaitCommand(q, args, actionBudget)
	}
}

// restSpy: intrude (listen and speak to the spied extension) and start_spy
// (listen only). Allowed with the intrude / spy permission, or to a
// qmanager of a queue the spied extension is a member of; the spying phone
// must be the user's.
func (a *restAPI) restSpy(kind string) func(*request) {
	return func(q *request) {
		b, ok := a.decodeConv(q, "convid", "endpointId", "destId")
		if !ok {
			return
		}
		u := q.user
		allowed := u.Perms.Spy
		if kind == pbx.CmdIntrude {
			allowed = u.Perms.Intrude
		}
		if !allowed && !a.qmanagerOf(q, u, b.EndpointID) {
			a.refuse(q, "control_forbidden", http.StatusForbidden, string(kind)+" permission required")
			return
		}
		if !u.Owns(b.DestID) {
			a.refuse(q, "control_forbidden", http.StatusForbidden, "the destination is not the user's")
			return
		}
		conv := pbx.Conv{Exten: b.EndpointID, ConvID: b.ConvID}
		if kind == pbx.CmdIntrude {
			a.awaitCommand(q, pbx.Intrude{Conv: conv, Dest: b.DestID}, actionBudget)
			return
		}
		a.awaitCommand(q, pbx.Listen{Conv: conv, Dest: b.DestID}, actionBudget)
	}
}

// qmanagerOf reports whether exten is a member of a queue the user manages
// (qmanager_<queue> permissions).
func (a *restAPI) qmanagerOf(q *request, u *directory.User, exten string) bool {
	if len(u.Perms.QManagerQueues) == 0 {
		return false
	}
	objs, err := a.state(q.r.Context(), q.tenant, objectPrefixMember)
	if err != nil {
		return false
	}
	for _, o := range objs {
		queue, member, ok := strings.Cut(strings.TrimPrefix(o.Key, objectPrefixMember), "/")
		if !ok || member != exten {
			continue
		}
		for _, allowed := range u.Perms.QManagerQueues {
			if allowed == queue {
				return true
			}
		}
	}
	return false
}

// restCall: for a WebRTC extension of the user the call is started by the
// client (callWebrtc); a physical phone is called through the PBX owner
// (Originate) and the answer waits for the owner's result. Calling from
// another user's extension needs the ad_phone permission.
func (a *restAPI) restCall(q *request) {
	var body struct {
		EndpointID   string `json:"endpointId"`
		EndpointType string `json:"endpointType"`
		Number       string `json:"number"`
	}
	if err := decodeBody(q.r, &body); err != nil || body.Number == "" {
		writeError(q.w, http.StatusBadRequest, "body must be {\"endpointId\",\"endpointType\",\"number\"}")
		return
	}
	if body.EndpointType != "" && body.EndpointType != "extension" {
		a.refuse(q, "bad_endpoint_type", http.StatusBadRequest, "endpointType must be \"extension\"")
		return
	}
	ext := body.EndpointID
	if ext == "" {
		ext = q.user.MainExtension
	}
	e, owns := q.user.Extension(ext)
	if !owns && (!q.user.Perms.AdminPhone || !pbx.ValidID(ext)) {
		writeError(q.w, http.StatusForbidden, "endpoint does not belong to the user")
		return
	}
	number := pbx.NormaliseNumber(body.Number)
	if !pbx.ValidNumber(number) {
		a.refuse(q, "bad_number", http.StatusBadRequest, "number is not dialable: digits, a leading + and * or #, at most "+strconv.Itoa(pbx.MaxNumberLen)+" characters")
		return
	}
	if owns && e.Type == "webrtc" {
		if a.publish(q, "callWebrtc", strings.ToLower(q.user.Username), number) {
			writeJSON(q.w, http.StatusOK, map[string]string{"message": "ok"})
		}
		return
	}
	a.awaitCommand(q, pbx.Call{Exten: ext, Number: number}, originateBudget)
}

func (a *restAPI) restAnswerWebrtc(q *request) {
	var body struct {
		EndpointID string `json:"endpointId"`
	}
	if err := decodeBody(q.r, &body); err != nil || body.EndpointID == "" {
		writeError(q.w, http.StatusBadRequest, "body must be {\"endpointId\":\"<extension>\"}")
		return
	}
	if !q.user.Owns(body.EndpointID) {
		writeError(q.w, http.StatusForbidden, "endpoint does not belong to the user")
		return
	}
	if a.publish(q, "answerWebrtc", strings.ToLower(q.user.Username), body.EndpointID) {
		writeJSON(q.w, http.StatusOK, map[string]string{"message": "ok"})
	}
}

package ws

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/pbx"
)

// mainExtension reads the user's main extension from the state.
func (a *restAPI) mainExtension(ctx context.Context, t *Tenant, u *directory.User) *pbx.Extension {
	if u.MainExtension == "" {
		return nil
	}
	objs, err := a.state(ctx, t, objectPrefixExten+u.MainExtension)
	if err != nil {
		return nil
	}
	for _, o := range objs {
		if o.Key == objectPrefixExten+u.MainExtension {
			var e pbx.Extension
			if json.Unmarshal(o.Data, &e) == nil {
				return &e
			}
		}
	}
	return nil
}

func (a *restAPI) restPresenceGet(q *request) {
	status, to := customPresence(q.user, presenceOf(a.mainExtension(q.r.Context(), q.tenant, q.user)))
	out := map[string]string{"status": status}
	if to != "" {
		out["to"] = to
	}
	writeJSON(q.w, http.StatusOK, out)
}

// restPresenceSet queues the presence change for the PBX owner, which
// carries it out through AMI (AstDB); the events follow from the PBX.
// Permissions as in NethCTI: dnd needs the DND permission; callforward,
// voicemail and cellphone the call-forward one; cellphone forwards to the
// user's own cellphone from users.json (never a number from the request).
// Presence changes reach every socket that sees the user, so they are
// bounded by Limits.UserPresence (429 above).
func (a *restAPI) restPresenceSet(q *request) {
	var body struct {
		Status string `json:"status"`
		To     string `json:"to"`
	}
	if err := decodeBody(q.r, &body); err != nil {
		writeError(q.w, http.StatusBadRequest, err.Error())
		return
	}
	u := q.user
	to := ""
	switch body.Status {
	case presenceOnline:
	case presenceDND:
		if !u.Perms.DND {
			a.refuse(q, "presence_forbidden", http.StatusForbidden, "dnd permission required")
			return
		}
	case presenceVoicemail, presenceCallforward, presenceCellphone:
		if !u.Perms.CallForward {
			a.refuse(q, "presence_forbidden", http.StatusForbidden, "call_forward permission required")
			return
		}
		switch body.Status {
		case presenceCallforward:
			if !pbx.ValidNumber(body.To) {
				a.refuse(q, "bad_number", http.StatusBadRequest, fmt.Sprintf("\"to\" must be a phone number: digits, a leading + and * or #, at most %d characters", pbx.MaxNumberLen))
				return
			}
			to = body.To
		case presenceCellphone:
			if !pbx.ValidNumber(pbx.NormaliseNumber(u.Cellphone)) {
				a.refuse(q, "presence_forbidden", http.StatusForbidden, "the user has no cellphone number")
				return
			}
		case presenceVoicemail:
			if len(u.Voicemails) == 0 {
				a.refuse(q, "presence_forbidden", http.StatusForbidden, "the user has no voicemail box")
				return
			}
		}
	default:
		a.refuse(q, "bad_status", http.StatusBadRequest, "status must be one of online, dnd, callforward, voicemail, cellphone")
		return
	}
	if u.MainExtension == "" {
		writeError(q.w, http.StatusBadRequest, "user has no main extension")
		return
	}
	if !a.userRateOK(q, userKindPresence) {
		return
	}
	a.awaitCommand(q, pbx.Presence{Exten: u.MainExtension, Status: body.Status, To: to}, actionBudget)
}

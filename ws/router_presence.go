package ws

import (
	"encoding/json"
	"strings"
	"unique"

	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/pbx"
	"github.com/ctiws/ctiws/ws/eio"
)

// routePresence sends, after an extension changed, its owner's main
// presence to everybody when it changed, and the owner's chosen presence
// when it is the main extension and that changed (docs/protocol.md, section 4.2).
func (r *router) routePresence(cfg *TenantConfig, e *pbx.Extension) {
	owner, ok := cfg.Directory.OwnerOf(e.Exten)
	if !ok {
		return
	}
	status, to := aggregatePresence(owner, r.state.presenceOf)
	key := strings.ToLower(owner.Username)
	main := presencePayload("mainPresence", owner.Username, status, to)
	if d := r.state.digests.Sum(main); r.state.mainPresenceSent[key] != d {
		// Only a change is news (the original repeated it after every
		// extenUpdate; see docs/compatibility.md).
		r.state.mainPresenceSent[key] = d
		r.toAll(eio.Event(evUserMainPresence, main), evUserMainPresence, evUserMainPresence+"|"+key)
	}
	if owner.MainExtension == e.Exten {
		p, pto := customPresence(owner, presenceOf(e))
		data := presencePayload("presence", owner.Username, p, pto)
		d := r.state.digests.Sum(data)
		if old, seen := r.state.presence[key]; old != d {
			r.state.presence[key] = d
			if seen {
				r.toAll(eio.Event(evUserPresence, data), evUserPresence, evUserPresence+"|"+key)
			}
		}
	}
}

// presencePayload builds {"<kind>":{"username","status"[,"to"]}}.
func presencePayload(kind, username, status, to string) []byte {
	inner := struct {
		Username string `json:"username"`
		Status   string `json:"status"`
		To       string `json:"to,omitempty"`
	}{username, status, to}
	b, _ := json.Marshal(map[string]any{kind: inner})
	return b
}

// extenPresence is what the presence rules read of an extension.
type extenPresence struct {
	status, cf, cfVm string
	dnd              bool
}

// presenceOf returns what the presence rules read of e (nil for nil). The
// status is interned: a handful of values shared by every extension.
func presenceOf(e *pbx.Extension) *extenPresence {
	if e == nil {
		return nil
	}
	return &extenPresence{status: unique.Make(e.Status).Value(), cf: e.CF, cfVm: e.CFVm, dnd: e.DND}
}

// customPresence derives the user's chosen presence from the DND and
// call-forward state of the main extension (docs/protocol.md, section 4.2).
func customPresence(u *directory.User, main *extenPresence) (status, to string) {
	switch {
	case main == nil:
		return presenceOnline, ""
	case main.dnd:
		return presenceDND, ""
	case main.cfVm != "":
		return presenceVoicemail, ""
	case main.cf != "" && u.Cellphone != "" && main.cf == u.Cellphone:
		return presenceCellphone, ""
	case main.cf != "":
		return presenceCallforward, main.cf
	}
	return presenceOnline, ""
}

// aggregatePresence is a user's main presence (docs/protocol.md, section 4.2): a chosen presence
// wins, otherwise the states of all the user's extensions, as state
// returns them (nil: unknown).
func aggregatePresence(u *directory.User, state func(id string) *extenPresence) (status, to string) {
	p, to := customPresence(u, state(u.MainExtension))
	if p != presenceOnline {
		return p, to
	}
	has := map[string]bool{}
	for _, x := range u.Extensions {
		if e := state(x.ID); e != nil {
			has[e.status] = true
		}
	}
	switch {
	case has["busy"], has["busy_ringing"]:
		return statusBusy, ""
	case has["ringing"]:
		return statusRinging, ""
	case has["onhold"]:
		return statusBusy, ""
	case has["online"]:
		return presenceOnline, ""
	}
	return statusOffline, ""
}

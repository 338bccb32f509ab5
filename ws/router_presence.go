package ws

import (
	"encoding/json"
	"strings"

	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/pbx"
	"github.com/ctiws/ctiws/ws/eio"
)

// routePresence sends, after an extension changed, its owner's main
// presence to everybody when it changed, and the owner's chosen presence
// when it is the main extension and that changed (§5.3).
func (r *router) routePresence(cfg *TenantConfig, e *pbx.Extension) {
	owner, ok := cfg.Directory.OwnerOf(e.Exten)
	if !ok {
		return
	}
	status, to := r.mainPresence(owner)
	key := strings.ToLower(owner.Username)
	main := presencePayload("mainPresence", owner.Username, status, to)
	if r.state.mainPresenceSent[key] != string(main) {
		// Only a change is news (the original repeated it after every
		// extenUpdate; see docs/compatibility.md).
		r.state.mainPresenceSent[key] = string(main)
		r.toAll(eio.Event(evUserMainPresence, main), evUserMainPresence, evUserMainPresence+"|"+key)
	}
	if owner.MainExtension == e.Exten {
		p, pto := customPresence(owner, e)
		data := presencePayload("presence", owner.Username, p, pto)
		if r.state.presence[key] != string(data) {
			first := r.state.presence[key] == ""
			r.state.presence[key] = string(data)
			if !first {
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

// customPresence derives the user's chosen presence from the DND and
// call-forward state of the main extension (§5.3).
func customPresence(u *directory.User, main *pbx.Extension) (status, to string) {
	switch {
	case main == nil:
		return presenceOnline, ""
	case main.DND:
		return presenceDND, ""
	case main.CFVm != "":
		return presenceVoicemail, ""
	case main.CF != "" && u.Cellphone != "" && main.CF == u.Cellphone:
		return presenceCellphone, ""
	case main.CF != "":
		return presenceCallforward, main.CF
	}
	return presenceOnline, ""
}

// mainPresence aggregates a user's presence (§5.3): a chosen presence wins,
// otherwise the states of all the user's extensions.
func (r *router) mainPresence(u *directory.User) (status, to string) {
	return aggregatePresence(u, r.state.extens)
}

// aggregatePresence is mainPresence over any map of extension states.
func aggregatePresence(u *directory.User, extens map[string]*pbx.Extension) (status, to string) {
	p, to := customPresence(u, extens[u.MainExtension])
	if p != presenceOnline {
		return p, to
	}
	has := map[string]bool{}
	for id := range u.Extensions {
		if e := extens[id]; e != nil {
			has[e.Status] = true
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

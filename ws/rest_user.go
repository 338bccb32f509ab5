package ws

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/pbx"
)

// The user routes phone-island calls at start-up, answered in NethCTI's
// shapes (docs/compatibility.md, "REST routes").

// extensionStates reads every extension of the tenant from the state.
func (a *restAPI) extensionStates(ctx context.Context, t *Tenant) (map[string]*pbx.Extension, error) {
	objs, err := a.state(ctx, t, objectPrefixExten)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*pbx.Extension, len(objs))
	for _, o := range objs {
		var e pbx.Extension
		if json.Unmarshal(o.Data, &e) == nil {
			out[strings.TrimPrefix(o.Key, objectPrefixExten)] = &e
		}
	}
	return out, nil
}

// userAgent is the SIP user agent of an extension ("" when unknown): what
// NethCTI calls the extension's description.
func userAgent(extens map[string]*pbx.Extension, id string) string {
	if e := extens[id]; e != nil {
		return e.SIPUserAgent
	}
	return ""
}

// hasSIPCredentials reports whether NethCTI shows secret and username for
// an extension type.
func hasSIPCredentials(typ string) bool {
	return typ == "webrtc" || typ == "mobile" || typ == "nethlink"
}

// endpointsJSON is a user's "endpoints" object. The SIP secrets are shown
// only to their owner (blank for others, like NethCTI); me adds the
// "actions" and "proxy_port" of /user/me.
func endpointsJSON(u *directory.User, extens map[string]*pbx.Extension, owner, me bool) (map[string]any, []map[string]any) {
	exts := make([]map[string]any, 0, len(u.Extensions))
	for _, e := range u.Extensions { // sorted by id
		if e.Type == "main" {
			continue
		}
		id := e.ID
		o := map[string]any{"id": id, "type": e.Type, "description": userAgent(extens, id)}
		if hasSIPCredentials(e.Type) {
			o["username"] = e.SIPUser
			o["secret"] = ""
			if owner {
				o["secret"] = e.SIPPassword
			}
		}
		if me {
			// ctiws drives no phone over its HTTP API: only clients that are
			// themselves the phone can answer, send DTMF and hold.
			soft := e.Type != "physical"
			o["actions"] = map[string]bool{"answer": soft, "dtmf": soft, "hold": soft}
			o["proxy_port"] = nil
		}
		exts = append(exts, o)
	}
	ids1 := func(list []string, extra func(string) map[string]any) []map[string]any {
		out := make([]map[string]any, 0, len(list))
		for _, id := range list {
			o := map[string]any{"id": id}
			if extra != nil {
				for k, v := range extra(id) {
					o[k] = v
				}
			}
			out = append(out, o)
		}
		return out
	}
	var main, cell []string
	if u.MainExtension != "" {
		main = []string{u.MainExtension}
	}
	if u.Cellphone != "" {
		cell = []string{u.Cellphone}
	}
	return map[string]any{
		"email":     ids1(u.Emails, nil),
		"jabber":    ids1(u.Jabbers, func(string) map[string]any { return map[string]any{"server": ""} }),
		"extension": exts,
		"cellphone": ids1(cell, nil),
		"voicemail": ids1(u.Voicemails, nil),
		"mainextension": ids1(main, func(id string) map[string]any {
			return map[string]any{"description": userAgent(extens, id)}
		}),
	}, exts
}

// conditionalPresence is NethCTI's presenceOnBusy / presenceOnUnavailable
// from a call-forward and its voicemail variant.
func conditionalPresence(cf, cfVm string) string {
	switch {
	case cfVm != "":
		return presenceVoicemail
	case cf != "":
		return presenceCallforward
	}
	return presenceOnline
}

// userInfo is NethCTI's user JSON (user/me without profile, settings and
// default device; one value of user/endpoints/all).
func userInfo(u *directory.User, extens map[string]*pbx.Extension, owner, me bool) (map[string]any, []map[string]any) {
	presence, _ := customPresence(u, presenceOf(extens[u.MainExtension]))
	mainPres, _ := aggregatePresence(u, func(id string) *extenPresence { return presenceOf(extens[id]) })
	onBusy, onUnavail := presenceOnline, presenceOnline
	if m := extens[u.MainExtension]; m != nil {
		onBusy = conditionalPresence(m.CFB, m.CFBVm)
		onUnavail = conditionalPresence(m.CFU, m.CFUVm)
	}
	eps, exts := endpointsJSON(u, extens, owner, me)
	return map[string]any{
		"name":                  u.Name,
		"username":              u.Username,
		"mainPresence":          mainPres,
		"presence":              presence,
		"endpoints":             eps,
		"presenceOnBusy":        onBusy,
		"presenceOnUnavailable": onUnavail,
		"recallOnBusy":          "disabled",
	}, exts
}

// defaultExtension is the settings' default_extension when the user owns
// it, otherwise the main extension.
func defaultExtension(u *directory.User) string {
	var st struct {
		Default any `json:"default_extension"`
	}
	if len(u.RawSettings) > 0 && json.Unmarshal(u.RawSettings, &st) == nil {
		if id := idOf(st.Default); id != "" && u.Owns(id) {
			return id
		}
	}
	return u.MainExtension
}

// idOf turns a JSON string or number into an id.
func idOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return ""
}

// restMe implements GET /user/me in NethCTI's shape.
func (a *restAPI) restMe(q *request) {
	extens, err := a.extensionStates(q.r.Context(), q.tenant)
	if err != nil {
		writeError(q.w, http.StatusServiceUnavailable, "state unavailable")
		return
	}
	u := q.user
	out, exts := userInfo(u, extens, true, true)
	macro := json.RawMessage(`{}`)
	if len(u.MacroPermissions) > 0 {
		macro = withoutKey(u.MacroPermissions, "remote_sites")
	}
	out["profile"] = map[string]any{"id": u.ProfileID, "name": u.ProfileName, "macro_permissions": macro}
	settings := json.RawMessage(`{}`)
	if len(u.RawSettings) > 0 {
		settings = u.RawSettings
	}
	out["settings"] = settings
	def := defaultExtension(u)
	for _, e := range exts {
		if e["id"] == def {
			out["default_device"] = e
			break
		}
	}
	writeJSON(q.w, http.StatusOK, out)
}

// withoutKey removes one key from a JSON object (NethCTI hides the unused
// remote_sites macro permission).
func withoutKey(obj json.RawMessage, key string) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil {
		return obj
	}
	if _, ok := m[key]; !ok {
		return obj
	}
	delete(m, key)
	b, err := json.Marshal(m)
	if err != nil {
		return obj
	}
	return b
}

// restEndpointsAll implements GET /user/endpoints/all: every user, keyed by
// username; only the caller sees its own SIP secrets.
func (a *restAPI) restEndpointsAll(q *request) {
	extens, err := a.extensionStates(q.r.Context(), q.tenant)
	if err != nil {
		writeError(q.w, http.StatusServiceUnavailable, "state unavailable")
		return
	}
	users := q.cfg.Directory.Users()
	out := make(map[string]any, len(users))
	for _, u := range users {
		info, _ := userInfo(u, extens, u == q.user, false)
		out[strings.ToLower(u.Username)] = info
	}
	writeJSON(q.w, http.StatusOK, out)
}

// restAllAvatars implements GET /user/all_avatars: username → data: URL,
// from the tenant's avatars file ({} without one).
func (a *restAPI) restAllAvatars(q *request) {
	out := make(map[string]string, len(q.cfg.Avatars))
	for k, v := range q.cfg.Avatars {
		out[k] = v
	}
	writeJSON(q.w, http.StatusOK, out)
}

// restParamURL implements GET /user/paramurl: the URL configured for the
// user's profile, or {} like NethCTI when there is none.
func (a *restAPI) restParamURL(q *request) {
	p, ok := q.cfg.ParamURLs[q.user.ProfileID]
	if !ok {
		writeJSON(q.w, http.StatusOK, map[string]any{})
		return
	}
	var pid any = q.user.ProfileID
	if n, err := strconv.Atoi(q.user.ProfileID); err == nil {
		pid = n
	}
	writeJSON(q.w, http.StatusOK, map[string]any{"id": pid, "profile_id": pid, "url": p.URL, "only_queues": p.OnlyQueues})
}

// restStreamingSources implements GET /streaming/sources: the sources the
// user may see, keyed by id. URLs lose their credentials; user and
// password are always blank.
func (a *restAPI) restStreamingSources(q *request) {
	out := map[string]any{}
	for _, src := range q.cfg.StreamSources {
		if q.user.MayStream(src.ID) {
			out[src.ID] = map[string]any{
				"id": src.ID, "url": stripCredentials(src.URL), "user": "", "password": "",
				"cmdOpen": src.CmdOpen, "frameRate": strconv.FormatFloat(frameInterval(src.Framerate), 'f', -1, 64),
				"extension": src.Extension, "description": src.Description,
			}
		}
	}
	writeJSON(q.w, http.StatusOK, out)
}

// frameInterval converts frames per second to NethCTI's frameRate, the
// milliseconds between two images (1000 when unset).
func frameInterval(fps float64) float64 {
	if fps <= 0 {
		return 1000
	}
	return float64(int(1000 / fps))
}

// stripCredentials drops the user:password@ part of a URL.
func stripCredentials(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	host, path, _ := strings.Cut(rest, "/")
	if i := strings.LastIndex(host, "@"); i >= 0 {
		host = host[i+1:]
	}
	if path != "" || strings.Contains(rest, "/") {
		return scheme + "://" + host + "/" + path
	}
	return scheme + "://" + host
}

// restFeatureCodes implements GET /astproxy/feature_codes.
func (a *restAPI) restFeatureCodes(q *request) {
	codes := q.cfg.FeatureCodes
	if codes == nil {
		codes = DefaultFeatureCodes()
	}
	writeJSON(q.w, http.StatusOK, codes)
}

// restSummary answers HEAD/GET /summary/{id} with a quiet 404: call
// summaries belong to the satellite service, which ctiws is not
// (phone-island treats the 404 as "no summary").
func (a *restAPI) restSummary(q *request) {
	q.w.WriteHeader(http.StatusNotFound)
}

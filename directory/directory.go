// Package directory reads a tenant's NethCTI users.json and profiles.json and
// answers the questions the rest of ctiws asks about users: who owns an
// extension, which permissions a user has, whether privacy applies.
//
// Look-ups by username are case-insensitive, and a user's main extension is an
// alias of the user (both deliberate fixes, see docs/compatibility.md).
package directory

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
)

// Extension is one endpoint of type extension in users.json.
type Extension struct {
	ID   string `json:"-"`
	Type string `json:"type"` // "physical", "webrtc", "mobile", "nethlink", ...
	MAC  string `json:"mac,omitempty"`
	// SIPUser and SIPPassword are the SIP credentials of a webrtc or mobile
	// extension (users.json "user" and "password"); /user/me shows them to
	// their owner, as NethCTI does.
	SIPUser     string `json:"user,omitempty"`
	SIPPassword string `json:"password,omitempty"`
}

// Settings are the per-user behaviours applied on first login and last logout
// (docs/protocol.md, section 2.5).
type Settings struct {
	QueueAutoLogin  bool `json:"queue_auto_login"`
	QueueAutoLogout bool `json:"queue_auto_logout"`
	AutoDNDOffLogin bool `json:"auto_dndoff_login"`
	AutoDNDOnLogout bool `json:"auto_dndon_logout"`
}

// Permissions are the checks of docs/protocol.md, section 3.1, resolved from the
// user's profile.
type Permissions struct {
	PresencePanel bool `json:"presence_panel"`
	Trunks        bool `json:"trunks"`
	Queues        bool `json:"queue_agent"`
	AdminQueues   bool `json:"ad_queue_agent"`
	Parkings      bool `json:"parkings"`
	QManager      bool `json:"qmanager"`
	Privacy       bool `json:"privacy"`
	ScreenSharing bool `json:"screen_sharing"`
	DND           bool `json:"dnd"`
	Phonebook     bool `json:"phonebook"`
	Streaming     bool `json:"streaming"`
	// CallForward allows setting call forward, voicemail and cellphone
	// presence (settings.call_forward).
	CallForward bool `json:"call_forward"`
	// Call control on other users' phones (presence_panel sub-permissions,
	// as NethCTI's authorization checks them): ad_phone (call from /
	// answer on any extension), hangup, transfer, ad_parking (park and
	// pick up for anyone), ad_recording (record any conversation),
	// pickup (directed pickup), intrude, spy.
	AdminPhone     bool `json:"ad_phone"`
	AdminHangup    bool `json:"ad_hangup"`
	AdminTransfer  bool `json:"ad_transfer"`
	AdminParkings  bool `json:"ad_parking"`
	AdminRecording bool `json:"ad_recording"`
	AdminPickup    bool `json:"ad_pickup"`
	Intrude        bool `json:"intrude"`
	Spy            bool `json:"spy"`
	// Recording allows recording the user's own conversations
	// (settings.recording).
	Recording bool `json:"recording"`
	// QManagerQueues are the queues of the qmanager_<queue> permissions:
	// their agents may be listened to or intruded on.
	QManagerQueues []string `json:"qmanager_queues,omitempty"`
}

// User is one entry of users.json with its resolved permissions.
type User struct {
	Username      string // as written in users.json
	Name          string
	MainExtension string
	// Extensions are every extension of the user, main included, sorted by
	// ID (a slice, not a map: a directory holds one per user, and a map of
	// one or two entries costs about 800 bytes). Look one up with
	// Extension.
	Extensions []Extension
	Voicemails []string
	Cellphone  string
	// Emails and Jabbers are the ids of the email and jabber endpoints,
	// sorted.
	Emails    []string
	Jabbers   []string
	ProfileID string
	Settings  Settings
	Perms     Permissions
	// Streaming lists the streaming source ids (lower-cased) the user may
	// subscribe to: those enabled in the profile's streaming permissions
	// plus the user's own "streaming" list in users.json. See MayStream.
	Streaming []string
	// ProfileName and MacroPermissions are the user's profile as written
	// in profiles.json (empty/nil without a known profile); /user/me
	// returns them unchanged.
	ProfileName      string
	MacroPermissions json.RawMessage
	// RawSettings is the "settings" object of users.json as written (nil
	// when absent); /user/me returns it.
	RawSettings json.RawMessage
}

// MayStream reports whether the user may subscribe to streaming source id:
// the streaming permission and the source in the user's allowed list
// (case-insensitive). No list means no source.
func (u *User) MayStream(id string) bool {
	if !u.Perms.Streaming {
		return false
	}
	for _, s := range u.Streaming {
		if strings.EqualFold(s, id) {
			return true
		}
	}
	return false
}

// Extension returns the user's extension ext.
func (u *User) Extension(ext string) (Extension, bool) {
	i, ok := slices.BinarySearchFunc(u.Extensions, ext, func(e Extension, id string) int { return strings.Compare(e.ID, id) })
	if !ok {
		return Extension{}, false
	}
	return u.Extensions[i], true
}

// Owns reports whether ext is one of the user's extensions.
func (u *User) Owns(ext string) bool {
	_, ok := u.Extension(ext)
	return ok
}

// HasVoicemail reports whether vm is one of the user's voicemail boxes.
func (u *User) HasVoicemail(vm string) bool {
	for _, v := range u.Voicemails {
		if v == vm {
			return true
		}
	}
	return false
}

// Directory is the immutable, parsed user and profile data of one tenant.
// A reload builds a new Directory; readers never see a half-updated one.
type Directory struct {
	users    map[string]*User // lower-cased username -> user
	byMain   map[string]*User // main extension -> user
	owner    map[string]*User // any extension -> user
	vmOwners map[string][]*User
	sorted   []*User
}

// Load reads and parses users.json and profiles.json.
func Load(usersPath, profilesPath string) (*Directory, error) {
	u, err := os.ReadFile(usersPath)
	if err != nil {
		return nil, fmt.Errorf("read users file: %w", err)
	}
	p, err := os.ReadFile(profilesPath)
	if err != nil {
		return nil, fmt.Errorf("read profiles file: %w", err)
	}
	d, err := Parse(u, p)
	if err != nil {
		return nil, fmt.Errorf("%s / %s: %w", usersPath, profilesPath, err)
	}
	return d, nil
}

type rawUser struct {
	Name      string `json:"name"`
	ProfileID any    `json:"profile_id"`
	Endpoints struct {
		MainExtension map[string]json.RawMessage `json:"mainextension"`
		Extension     map[string]Extension       `json:"extension"`
		Voicemail     map[string]json.RawMessage `json:"voicemail"`
		Cellphone     map[string]json.RawMessage `json:"cellphone"`
		Email         map[string]json.RawMessage `json:"email"`
		Jabber        map[string]json.RawMessage `json:"jabber"`
	} `json:"endpoints"`
	Settings  Settings `json:"settings"`
	Streaming []string `json:"streaming"`
}

type rawPerm struct {
	ID    any    `json:"id"`
	Name  string `json:"name"`
	Value bool   `json:"value"`
}

type rawMacro struct {
	Value       bool            `json:"value"`
	Permissions json.RawMessage `json:"permissions"`
}

type rawProfile struct {
	ID               any                 `json:"id"`
	Name             string              `json:"name"`
	MacroPermissions map[string]rawMacro `json:"macro_permissions"`
}

// profileInfo is what /user/me shows of a profile.
type profileInfo struct {
	name  string
	perms Permissions
	macro json.RawMessage
}

// rawSettings reads the "settings" object of every user as written.
func rawSettings(usersJSON []byte) map[string]json.RawMessage {
	var raw map[string]struct {
		Settings json.RawMessage `json:"settings"`
	}
	if json.Unmarshal(usersJSON, &raw) != nil {
		return nil
	}
	out := make(map[string]json.RawMessage, len(raw))
	for name, u := range raw {
		if len(u.Settings) > 0 && u.Settings[0] == '{' {
			out[name] = u.Settings
		}
	}
	return out
}

// rawMacros reads each profile's macro_permissions as written.
func rawMacros(profilesJSON []byte) map[string]json.RawMessage {
	var raw map[string]struct {
		MacroPermissions json.RawMessage `json:"macro_permissions"`
	}
	if json.Unmarshal(profilesJSON, &raw) != nil {
		return nil
	}
	out := make(map[string]json.RawMessage, len(raw))
	for key, p := range raw {
		out[key] = p.MacroPermissions
	}
	return out
}

// perms flattens a macro's permissions, which NethCTI writes either as an
// object keyed by name or as an array of {id,name,value}.
func (m rawMacro) perms() (map[string]bool, error) {
	out := map[string]bool{}
	if len(m.Permissions) == 0 || string(m.Permissions) == "null" {
		return out, nil
	}
	var obj map[string]rawPerm
	if err := json.Unmarshal(m.Permissions, &obj); err == nil {
		for k, p := range obj {
			name := p.Name
			if name == "" {
				name = k
			}
			out[strings.ToLower(name)] = p.Value
		}
		return out, nil
	}
	var arr []rawPerm
	if err := json.Unmarshal(m.Permissions, &arr); err != nil {
		return nil, errors.New("permissions is neither an object nor an array")
	}
	for _, p := range arr {
		out[strings.ToLower(p.Name)] = p.Value
	}
	return out, nil
}

func idString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return fmt.Sprintf("%v", x)
	default:
		return fmt.Sprint(x)
	}
}

// Parse builds a Directory from the contents of users.json and profiles.json.
func Parse(usersJSON, profilesJSON []byte) (*Directory, error) {
	var rawUsers map[string]rawUser
	if err := json.Unmarshal(usersJSON, &rawUsers); err != nil {
		return nil, fmt.Errorf("users.json: %w", err)
	}
	var rawProfiles map[string]rawProfile
	if err := json.Unmarshal(profilesJSON, &rawProfiles); err != nil {
		return nil, fmt.Errorf("profiles.json: %w", err)
	}
	macros := rawMacros(profilesJSON)
	settings := rawSettings(usersJSON)
	profiles := map[string]profileInfo{}
	profileStreams := map[string][]string{}
	for key, p := range rawProfiles {
		perm, streams, err := resolve(p)
		if err != nil {
			return nil, fmt.Errorf("profiles.json: profile %q: %w", key, err)
		}
		id := idString(p.ID)
		if id == "" {
			id = key
		}
		info := profileInfo{name: p.Name, perms: perm, macro: macros[key]}
		profiles[id], profiles[key] = info, info
		profileStreams[id], profileStreams[key] = streams, streams
	}
	d := &Directory{
		users:    map[string]*User{},
		byMain:   map[string]*User{},
		owner:    map[string]*User{},
		vmOwners: map[string][]*User{},
	}
	for name, ru := range rawUsers {
		if name == "" {
			return nil, errors.New("users.json: empty username")
		}
		lname := strings.ToLower(name)
		if _, dup := d.users[lname]; dup {
			return nil, fmt.Errorf("users.json: user %q appears twice (usernames are case-insensitive)", name)
		}
		u := &User{
			Username:    name,
			Name:        ru.Name,
			ProfileID:   idString(ru.ProfileID),
			Settings:    ru.Settings,
			RawSettings: settings[name],
		}
		exts := map[string]Extension{}
		for ext := range ru.Endpoints.MainExtension {
			u.MainExtension = ext
			exts[ext] = Extension{ID: ext, Type: "main"}
		}
		for ext, e := range ru.Endpoints.Extension {
			e.ID = ext
			exts[ext] = e
		}
		u.Extensions = slices.SortedFunc(maps.Values(exts), func(a, b Extension) int { return strings.Compare(a.ID, b.ID) })
		for vm := range ru.Endpoints.Voicemail {
			u.Voicemails = append(u.Voicemails, vm)
		}
		sort.Strings(u.Voicemails)
		for c := range ru.Endpoints.Cellphone {
			u.Cellphone = c
		}
		for e := range ru.Endpoints.Email {
			u.Emails = append(u.Emails, e)
		}
		sort.Strings(u.Emails)
		for j := range ru.Endpoints.Jabber {
			u.Jabbers = append(u.Jabbers, j)
		}
		sort.Strings(u.Jabbers)
		if p, ok := profiles[u.ProfileID]; ok {
			u.Perms = p.perms
			u.ProfileName = p.name
			u.MacroPermissions = p.macro
			u.Streaming = mergeLower(profileStreams[u.ProfileID], ru.Streaming)
		} else {
			// No (or an unknown) profile: no permissions, and privacy on.
			// The original turned privacy off for an unknown profile id;
			// see docs/compatibility.md.
			u.Perms = Permissions{Privacy: true}
		}
		d.users[lname] = u
		if u.MainExtension != "" {
			d.byMain[u.MainExtension] = u
		}
		for _, e := range u.Extensions {
			ext := e.ID
			if other, taken := d.owner[ext]; taken && other != u {
				return nil, fmt.Errorf("users.json: extension %s belongs to both %q and %q", ext, other.Username, u.Username)
			}
			d.owner[ext] = u
		}
		for _, vm := range u.Voicemails {
			d.vmOwners[vm] = append(d.vmOwners[vm], u)
		}
		d.sorted = append(d.sorted, u)
	}
	sort.Slice(d.sorted, func(i, j int) bool { return d.sorted[i].Username < d.sorted[j].Username })
	return d, nil
}

// mergeLower returns the sorted, de-duplicated, lower-cased union of lists.
func mergeLower(lists ...[]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range lists {
		for _, s := range l {
			if s = strings.ToLower(s); s != "" && !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	sort.Strings(out)
	return out
}

// resolve computes a profile's permissions and the streaming sources its
// streaming permissions enable (NethCTI keys them by source id).
func resolve(p rawProfile) (Permissions, []string, error) {
	macro := func(name string) (bool, map[string]bool, error) {
		m, ok := p.MacroPermissions[name]
		if !ok {
			return false, map[string]bool{}, nil
		}
		perms, err := m.perms()
		if err != nil {
			return false, nil, fmt.Errorf("macro %s: %w", name, err)
		}
		return m.Value, perms, nil
	}
	var out Permissions
	pp, ppSub, err := macro("presence_panel")
	if err != nil {
		return out, nil, err
	}
	qa, qaSub, err := macro("queue_agent")
	if err != nil {
		return out, nil, err
	}
	st, stSub, err := macro("settings")
	if err != nil {
		return out, nil, err
	}
	nc, ncSub, err := macro("nethvoice_cti")
	if err != nil {
		return out, nil, err
	}
	qm, qmSub, err := macro("qmanager")
	if err != nil {
		return out, nil, err
	}
	pb, _, err := macro("phonebook")
	if err != nil {
		return out, nil, err
	}
	sm, smSub, err := macro("streaming")
	if err != nil {
		return out, nil, err
	}
	out.PresencePanel = pp
	out.Trunks = pp && ppSub["trunks"]
	out.Queues = qa
	out.AdminQueues = qa && qaSub["ad_queue_agent"]
	out.Parkings = st && stSub["parkings"]
	out.QManager = qm
	// NS7 keeps privacy under settings, NS8 under nethvoice_cti: accept both.
	out.Privacy = (st && stSub["privacy"]) || (nc && ncSub["privacy"])
	out.ScreenSharing = (st && stSub["screen_sharing"]) || (nc && ncSub["screen_sharing"])
	out.DND = st && stSub["dnd"]
	out.Phonebook = pb
	out.Streaming = sm
	out.CallForward = st && stSub["call_forward"]
	out.AdminPhone = pp && ppSub["ad_phone"]
	out.AdminHangup = pp && ppSub["hangup"]
	out.AdminTransfer = pp && ppSub["transfer"]
	out.AdminParkings = pp && ppSub["ad_parking"]
	out.AdminRecording = pp && ppSub["ad_recording"]
	out.AdminPickup = pp && ppSub["pickup"]
	out.Intrude = pp && ppSub["intrude"]
	out.Spy = pp && ppSub["spy"]
	out.Recording = st && stSub["recording"]
	if qm {
		for name, on := range qmSub {
			if q, ok := strings.CutPrefix(name, "qmanager_"); ok && on && q != "" {
				out.QManagerQueues = append(out.QManagerQueues, q)
			}
		}
		sort.Strings(out.QManagerQueues)
	}
	var streams []string
	if sm {
		for id, on := range smSub {
			if on {
				streams = append(streams, id)
			}
		}
	}
	return out, streams, nil
}

// User finds a user by username (case-insensitive) or by main extension.
func (d *Directory) User(name string) (*User, bool) {
	if u, ok := d.users[strings.ToLower(name)]; ok {
		return u, true
	}
	u, ok := d.byMain[name]
	return u, ok
}

// OwnerOf returns the user owning extension ext.
func (d *Directory) OwnerOf(ext string) (*User, bool) {
	u, ok := d.owner[ext]
	return u, ok
}

// VoicemailOwners returns the users having voicemail box vm.
func (d *Directory) VoicemailOwners(vm string) []*User { return d.vmOwners[vm] }

// Users returns every user, sorted by username.
func (d *Directory) Users() []*User { return d.sorted }

// Empty returns a directory without users.
func Empty() *Directory {
	d, _ := Parse([]byte("{}"), []byte("{}"))
	return d
}

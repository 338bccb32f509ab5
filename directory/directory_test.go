package directory

import "testing"

const users = `{
 "Alice": {"name":"Alice","profile_id":"1","endpoints":{"mainextension":{"201":{}},"extension":{"201":{"type":"physical"},"91201":{"type":"webrtc"}},"voicemail":{"201":{}},"cellphone":{"333":{}}},"settings":{"queue_auto_login":true}},
 "bob": {"name":"Bob","profile_id":2,"endpoints":{"mainextension":{"202":{}},"extension":{"202":{}}}},
 "noprof": {"name":"N","endpoints":{"mainextension":{"203":{}}}}
}`

const profiles = `{
 "1":{"id":"1","macro_permissions":{"presence_panel":{"value":true,"permissions":{"trunks":{"name":"trunks","value":true}}},
      "queue_agent":{"value":false,"permissions":{"ad_queue_agent":{"value":true}}},
      "settings":{"value":true,"permissions":[{"name":"privacy","value":true},{"name":"dnd","value":true}]}}},
 "2":{"id":2,"macro_permissions":{"presence_panel":{"value":false,"permissions":{"trunks":{"value":true}}},
      "nethvoice_cti":{"value":true,"permissions":{"privacy":{"value":true},"screen_sharing":{"value":true}}}}}
}`

func TestParse(t *testing.T) {
	d, err := Parse([]byte(users), []byte(profiles))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		lookup string
		want   string
	}{
		{"alice", "Alice"}, {"ALICE", "Alice"}, {"201", "Alice"}, {"bob", "bob"}, {"202", "bob"}, {"91201", ""}, {"nobody", ""},
	}
	for _, tt := range tests {
		u, ok := d.User(tt.lookup)
		if (tt.want == "") == ok || ok && u.Username != tt.want {
			t.Errorf("User(%q) = %v %v", tt.lookup, u, ok)
		}
	}
	a, _ := d.User("alice")
	if !a.Perms.PresencePanel || !a.Perms.Trunks || a.Perms.Queues || a.Perms.AdminQueues || !a.Perms.Privacy || !a.Perms.DND || a.Cellphone != "333" || !a.Settings.QueueAutoLogin {
		t.Errorf("alice perms %+v settings %+v", a.Perms, a.Settings)
	}
	if o, ok := d.OwnerOf("91201"); !ok || o != a {
		t.Error("OwnerOf(91201)")
	}
	b, _ := d.User("bob")
	if b.Perms.PresencePanel || b.Perms.Trunks || !b.Perms.Privacy || !b.Perms.ScreenSharing {
		t.Errorf("bob perms %+v", b.Perms)
	}
	n, _ := d.User("noprof")
	if !n.Perms.Privacy || n.Perms.PresencePanel {
		t.Errorf("user without profile: %+v", n.Perms)
	}
	if len(d.VoicemailOwners("201")) != 1 || len(d.Users()) != 3 || d.Users()[0].Username != "Alice" {
		t.Error("voicemail owners / sorted users")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, users, profiles string }{
		{"users not json", `{`, `{}`},
		{"profiles not json", `{}`, `[`},
		{"users wrong type", `{"a":{"name":1}}`, `{}`},
		{"duplicate case-insensitive", `{"a":{},"A":{}}`, `{}`},
		{"shared extension", `{"a":{"endpoints":{"extension":{"1":{}}}},"b":{"endpoints":{"mainextension":{"1":{}}}}}`, `{}`},
		{"bad permissions", `{}`, `{"1":{"macro_permissions":{"settings":{"value":true,"permissions":"x"}}}}`},
		{"empty username", `{"":{}}`, `{}`},
	}
	for _, tt := range tests {
		if _, err := Parse([]byte(tt.users), []byte(tt.profiles)); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
	if _, err := Load("/nonexistent/users.json", "/nonexistent/profiles.json"); err == nil {
		t.Error("Load of missing files accepted")
	}
}

// TestCallForwardAndStreaming: the call-forward permission and the
// streaming sources a user may subscribe to (profile sources plus the
// user's own list; none without the streaming permission).
func TestCallForwardAndStreaming(t *testing.T) {
	users := `{
 "ann": {"profile_id":"1","endpoints":{"mainextension":{"201":{}}},"streaming":["Door"]},
 "ben": {"profile_id":"2","endpoints":{"mainextension":{"202":{}}},"streaming":["door"]},
 "cat": {"profile_id":"3","endpoints":{"mainextension":{"203":{}}}}
}`
	profiles := `{
 "1":{"macro_permissions":{"settings":{"value":true,"permissions":{"call_forward":{"value":true}}},
      "streaming":{"value":true,"permissions":{"gate":{"value":true},"yard":{"value":false}}}}},
 "2":{"macro_permissions":{"settings":{"value":false,"permissions":{"call_forward":{"value":true}}},
      "streaming":{"value":false,"permissions":{"gate":{"value":true}}}}},
 "3":{"macro_permissions":{"streaming":{"value":true,"permissions":{}}}}
}`
	d, err := Parse([]byte(users), []byte(profiles))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, source string
		may          bool
	}{
		{"ann", "gate", true}, {"ann", "GATE", true}, {"ann", "door", true}, {"ann", "yard", false}, {"ann", "other", false},
		{"ben", "gate", false}, {"ben", "door", false}, // no streaming permission
		{"cat", "gate", false}, // permission but no source
	} {
		u, _ := d.User(tc.user)
		if got := u.MayStream(tc.source); got != tc.may {
			t.Errorf("%s.MayStream(%q) = %v, want %v", tc.user, tc.source, got, tc.may)
		}
	}
	for user, want := range map[string]bool{"ann": true, "ben": false, "cat": false} {
		if u, _ := d.User(user); u.Perms.CallForward != want {
			t.Errorf("%s: CallForward = %v, want %v", user, u.Perms.CallForward, want)
		}
	}
}

func TestUserExtensions(t *testing.T) {
	d, err := Parse([]byte(users), []byte(profiles))
	if err != nil {
		t.Fatal(err)
	}
	alice, _ := d.User("alice")
	if len(alice.Extensions) != 2 || alice.Extensions[0].ID != "201" || alice.Extensions[1].ID != "91201" {
		t.Fatalf("extensions %+v, want 201 and 91201 sorted", alice.Extensions)
	}
	for _, tt := range []struct {
		user, ext, typ string
		ok             bool
	}{
		{"alice", "201", "physical", true}, // the extension entry wins over the main one
		{"alice", "91201", "webrtc", true},
		{"alice", "202", "", false},
		{"noprof", "203", "main", true},
		{"bob", "", "", false},
	} {
		u, _ := d.User(tt.user)
		e, ok := u.Extension(tt.ext)
		if ok != tt.ok || e.Type != tt.typ || (ok && e.ID != tt.ext) || u.Owns(tt.ext) != tt.ok {
			t.Errorf("%s.Extension(%q) = %+v %v, want type %q %v", tt.user, tt.ext, e, ok, tt.typ, tt.ok)
		}
	}
}

package ws_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/pbx"
	"github.com/ctiws/ctiws/ws"
	"github.com/ctiws/ctiws/ws/auth"
	"github.com/ctiws/ctiws/ws/client"
)

const islandUsers = `{
 "alice": {"name":"Alice","profile_id":"1","endpoints":{"mainextension":{"201":{}},
   "extension":{"201":{"type":"physical"},"91201":{"type":"webrtc","user":"91201","password":"s3cret"}},
   "voicemail":{"201":{}},"cellphone":{"3331234567":{}},"email":{"alice@example.com":{}}},
   "settings":{"default_extension":"91201","open_param_url":"ringing"}},
 "bob": {"name":"Bob","profile_id":"2","endpoints":{"mainextension":{"202":{}},
   "extension":{"202":{"type":"physical"},"91202":{"type":"webrtc","user":"91202","password":"bobs"}}}}
}`

const islandProfiles = `{
 "1":{"id":"1","name":"Advanced","macro_permissions":{
   "presence_panel":{"value":true,"permissions":{}},
   "streaming":{"value":true,"permissions":{"door":{"name":"door","value":true}}},
   "remote_sites":{"value":true,"permissions":{}}}},
 "2":{"id":"2","name":"Base","macro_permissions":{}}
}`

// islandEnv is an env whose tenant t1 has the configuration phone-island's
// start-up calls read, a JWT secret and a password for alice ("pw").
func islandEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	dir, err := directory.Parse([]byte(islandUsers), []byte(islandProfiles))
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	ht, err := auth.ParseHtpasswd([]byte("alice:" + string(hash) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ws.TenantConfig{Directory: dir, Privacy: "xxx", AuthEnabled: true, Htpasswd: ht, JWTSecret: []byte("k"),
		Streams:       []string{"door"},
		StreamSources: []ws.StreamSource{{ID: "door", URL: "http://admin:pw@cam.local/img.jpg", Framerate: 2, Extension: "609", Description: "Door", CmdOpen: "0*"}},
		FeatureCodes:  map[string]string{"pickup": "*8", "audio_test": "*43"},
		ParamURLs:     map[string]ws.ParamURL{"1": {URL: "https://crm.example/?n=$CALLER_NUMBER"}},
		Avatars:       map[string]string{"alice": "data:image/png;base64,AA"},
	}
	if !e.srv.Reload("t1", cfg) {
		t.Fatal("reload refused")
	}
	ext := testExtension("201", "alice")
	ext.SIPUserAgent = "Yealink T54W"
	ext.CF = ""
	e.publish("t1", cluster.Event{Name: pbx.EvExtenChanged, Key: "exten/201", Data: mustJSON(t, ext)})
	for _, u := range []string{"alice", "bob"} {
		if err := e.backend.Tokens.Put(context.Background(), "t1", u, auth.HashToken("tok-"+u), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func doReq(t *testing.T, method, url, authz, body string) (int, []byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// TestUserRoutesShapes: the start-up routes answer in NethCTI's shapes.
func TestUserRoutesShapes(t *testing.T) {
	e := islandEnv(t)
	var me struct {
		Username     string `json:"username"`
		Presence     string `json:"presence"`
		MainPresence string `json:"mainPresence"`
		Endpoints    struct {
			Extension     []map[string]any `json:"extension"`
			MainExtension []map[string]any `json:"mainextension"`
			Cellphone     []map[string]any `json:"cellphone"`
			Voicemail     []map[string]any `json:"voicemail"`
			Email         []map[string]any `json:"email"`
			Jabber        []map[string]any `json:"jabber"`
		} `json:"endpoints"`
		Profile struct {
			ID     string                     `json:"id"`
			Name   string                     `json:"name"`
			Macro  map[string]json.RawMessage `json:"macro_permissions"`
			Legacy any                        `json:"permissions"`
		} `json:"profile"`
		DefaultDevice map[string]any `json:"default_device"`
		Settings      map[string]any `json:"settings"`
		Tenant        any            `json:"tenant"`
	}
	code, body, _ := doReq(t, "GET", e.hs.URL+"/webrest/user/me", "alice:tok-alice", "")
	if code != 200 || json.Unmarshal(body, &me) != nil {
		t.Fatalf("user/me: %d %s", code, body)
	}
	switch {
	case me.Username != "alice" || me.Presence != "online" || me.MainPresence == "":
		t.Errorf("presence fields: %s", body)
	case len(me.Endpoints.MainExtension) != 1 || me.Endpoints.MainExtension[0]["id"] != "201" || me.Endpoints.MainExtension[0]["description"] != "Yealink T54W":
		t.Errorf("mainextension: %s", body)
	case len(me.Endpoints.Cellphone) != 1 || me.Endpoints.Cellphone[0]["id"] != "3331234567":
		t.Errorf("cellphone: %s", body)
	case len(me.Endpoints.Voicemail) != 1 || len(me.Endpoints.Email) != 1 || me.Endpoints.Jabber == nil:
		t.Errorf("voicemail/email/jabber: %s", body)
	case len(me.Endpoints.Extension) != 2:
		t.Errorf("extensions: %s", body)
	case me.DefaultDevice["id"] != "91201" || me.DefaultDevice["secret"] != "s3cret" || me.DefaultDevice["type"] != "webrtc":
		t.Errorf("default_device: %s", body)
	case me.Profile.ID != "1" || me.Profile.Name != "Advanced" || me.Profile.Macro["presence_panel"] == nil || me.Profile.Macro["remote_sites"] != nil || me.Profile.Legacy != nil:
		t.Errorf("profile: %s", body)
	case me.Settings["open_param_url"] != "ringing" || me.Tenant != nil:
		t.Errorf("settings/tenant: %s", body)
	}
	if a, _ := me.Endpoints.Extension[0]["actions"].(map[string]any); a == nil || a["answer"] != false {
		t.Errorf("physical extension actions: %v", me.Endpoints.Extension[0])
	}

	tests := []struct {
		name, path, authz string
		check             func(map[string]any) string
	}{
		{"endpoints/all hides other users' secrets", "/webrest/user/endpoints/all", "alice:tok-alice", func(m map[string]any) string {
			bob := m["bob"].(map[string]any)["endpoints"].(map[string]any)["extension"].([]any)
			alice := m["alice"].(map[string]any)["endpoints"].(map[string]any)["extension"].([]any)
			if bob[1].(map[string]any)["secret"] != "" || alice[1].(map[string]any)["secret"] != "s3cret" {
				return "secrets not as NethCTI"
			}
			if m["alice"].(map[string]any)["presence"] != "online" {
				return "no presence"
			}
			return ""
		}},
		{"all_avatars", "/webrest/user/all_avatars", "alice:tok-alice", func(m map[string]any) string {
			if m["alice"] != "data:image/png;base64,AA" || len(m) != 1 {
				return "avatars"
			}
			return ""
		}},
		{"paramurl of a configured profile", "/webrest/user/paramurl", "alice:tok-alice", func(m map[string]any) string {
			if m["url"] != "https://crm.example/?n=$CALLER_NUMBER" || m["only_queues"] != false || m["profile_id"] != float64(1) {
				return "paramurl"
			}
			return ""
		}},
		{"paramurl without one is {}", "/webrest/user/paramurl", "bob:tok-bob", func(m map[string]any) string {
			if len(m) != 0 {
				return "want {}"
			}
			return ""
		}},
		{"feature codes", "/webrest/astproxy/feature_codes", "alice:tok-alice", func(m map[string]any) string {
			if m["audio_test"] != "*43" || m["pickup"] != "*8" {
				return "codes"
			}
			return ""
		}},
		{"streaming sources without credentials", "/webrest/streaming/sources", "alice:tok-alice", func(m map[string]any) string {
			d, _ := m["door"].(map[string]any)
			if d == nil || d["url"] != "http://cam.local/img.jpg" || d["password"] != "" || d["frameRate"] != "500" || d["extension"] != "609" || d["cmdOpen"] != "0*" {
				return "door source"
			}
			return ""
		}},
		{"streaming sources need the permission", "/webrest/streaming/sources", "bob:tok-bob", func(m map[string]any) string {
			if len(m) != 0 {
				return "want {}"
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body, _ := doReq(t, "GET", e.hs.URL+tt.path, tt.authz, "")
			var m map[string]any
			if code != 200 || json.Unmarshal(body, &m) != nil {
				t.Fatalf("%d %s", code, body)
			}
			if msg := tt.check(m); msg != "" {
				t.Fatalf("%s: %s", msg, body)
			}
		})
	}
}

// TestAPIMode: the middleware's login, the /api routes with a Bearer JWT,
// their prefix-stripped form and the socket at /api/ws.
func TestAPIMode(t *testing.T) {
	e := islandEnv(t)
	code, body, _ := doReq(t, "POST", e.hs.URL+"/api/login", "", `{"username":"alice","password":"pw"}`)
	var login struct {
		Code   int    `json:"code"`
		Expire string `json:"expire"`
		Token  string `json:"token"`
	}
	if code != 200 || json.Unmarshal(body, &login) != nil || login.Code != 200 || login.Token == "" {
		t.Fatalf("login: %d %s", code, body)
	}
	// Two weeks like the middleware, cut to the default jwt_max_lifetime.
	exp, err := time.Parse(time.RFC3339, login.Expire)
	if err != nil || exp.Before(time.Now().Add(ws.DefaultJWTMaxLifetime-time.Minute)) || exp.After(time.Now().Add(ws.DefaultJWTMaxLifetime)) {
		t.Fatalf("expire %q", login.Expire)
	}
	claims, err := auth.VerifyJWT(login.Token, auth.JWTPolicy{Secrets: [][]byte{[]byte("k")}, Tenant: "t1", MaxLifetime: ws.DefaultJWTMaxLifetime, Now: time.Now()})
	if err != nil || claims.User != "alice" {
		t.Fatalf("token: %v %q", err, claims.User)
	}
	if _, err := auth.VerifyJWT(login.Token, auth.JWTPolicy{Secrets: [][]byte{[]byte("k")}, Tenant: "t2", Now: time.Now()}); !errors.Is(err, auth.ErrJWTAudience) {
		t.Fatalf("token accepted for another tenant: %v", err)
	}
	bearerTok := "Bearer " + login.Token
	tests := []struct {
		name, method, path, authz, body string
		want                            int
	}{
		{"login: wrong password", "POST", "/api/login", "", `{"username":"alice","password":"no"}`, 401},
		{"login: unknown user", "POST", "/api/login", "", `{"username":"mallory","password":"pw"}`, 401},
		{"login: not JSON", "POST", "/api/login", "", `nope`, 400},
		{"login stripped", "POST", "/login", "", `{"username":"alice","password":"pw"}`, 200},
		{"probe with the JWT", "GET", "/api/user/me", bearerTok, "", 200},
		{"probe with a legacy token", "GET", "/api/user/me", "Bearer tok-alice", "", 401},
		{"legacy header on /api", "GET", "/api/user/me", "alice:tok-alice", "", 401},
		{"no header on /api", "GET", "/api/astproxy/extensions", "", "", 401},
		{"extensions", "GET", "/api/astproxy/extensions", bearerTok, "", 200},
		{"feature codes", "GET", "/api/astproxy/feature_codes", bearerTok, "", 200},
		{"endpoints", "GET", "/api/user/endpoints/all", bearerTok, "", 200},
		{"summary is a quiet 404", "HEAD", "/api/summary/1700000000.1", bearerTok, "", 404},
		{"summary needs auth", "HEAD", "/api/summary/1700000000.1", "", "", 401},
		{"stripped user/me", "GET", "/user/me", bearerTok, "", 200},
		{"stripped without token", "GET", "/user/me", "", "", 404},
		{"unknown api route", "GET", "/api/nothing/here", bearerTok, "", 404},
		{"no /webrest under /api", "GET", "/api/webrest/user/me", bearerTok, "", 404},
		{"logout", "POST", "/api/logout", bearerTok, "", 200},
		{"revoked by the logout", "GET", "/api/user/me", bearerTok, "", 401},
		{"logout without token", "POST", "/api/logout", "", "", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body, _ := doReq(t, tt.method, e.hs.URL+tt.path, tt.authz, tt.body)
			if code != tt.want {
				t.Fatalf("%s %s: %d %s, want %d", tt.method, tt.path, code, body, tt.want)
			}
			if code == 401 && tt.method != "HEAD" && !json.Valid(body) {
				t.Fatalf("401 body is not JSON: %q", body)
			}
		})
	}

	code, body, _ = doReq(t, "POST", e.hs.URL+"/api/login", "", `{"username":"alice","password":"pw"}`)
	if code != 200 || json.Unmarshal(body, &login) != nil {
		t.Fatalf("second login: %d %s", code, body)
	}
	got := make(chan string, 1)
	c, err := client.Dial(context.Background(), client.Options{URL: e.hs.URL, Path: "/api/ws/", User: "alice", Token: login.Token, UAType: "desktop", PingEvery: -1,
		OnEvent: func(name string, _ []json.RawMessage, _ time.Time) {
			select {
			case got <- name:
			default:
			}
		}})
	if err != nil {
		t.Fatalf("socket at /api/ws/ with the JWT: %v", err)
	}
	defer c.Close()
	if _, err := c.Ping(context.Background()); err != nil {
		t.Fatalf("ping on /api/ws/: %v", err)
	}
}

// TestAPILoginWithoutSecret: a tenant without jwt_secret cannot issue JWTs.
func TestAPILoginWithoutSecret(t *testing.T) {
	e := newEnv(t)
	code, body, _ := doReq(t, "POST", e.hs.URL+"/api/login", "", `{"username":"alice","password":"pw"}`)
	if code != 503 || !strings.Contains(string(body), "JWT login not configured") {
		t.Fatalf("%d %s", code, body)
	}
}

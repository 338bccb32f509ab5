package console

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster/memory"
	"github.com/ctiws/ctiws/ws/auth"
	"golang.org/x/crypto/bcrypt"
)

// testConsole serves a console with users admin/admin-pw and eve/eve-pw
// (bcrypt's minimum cost, for speed) on an httptest server.
func testConsole(t *testing.T, mod func(*Options)) (*Console, *httptest.Server) {
	t.Helper()
	var lines []string
	for _, u := range []string{"admin", "eve"} {
		h, err := bcrypt.GenerateFromPassword([]byte(u+"-pw"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, u+":"+string(h))
	}
	users, err := auth.ParseHtpasswd([]byte(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{Users: users, Unmasked: []string{"Admin"}, Node: "n1", Version: "test",
		Logger: slog.New(slog.DiscardHandler), Backend: memory.New().Cluster(), Tenants: func() []string { return []string{"t2", "t1"} }}
	if mod != nil {
		mod(&opt)
	}
	c, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return c, newServer(t, c)
}

func newServer(t *testing.T, c *Console) *httptest.Server {
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return srv
}

// client is an HTTP client with a cookie jar that does not follow redirects.
func client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func post(t *testing.T, cl *http.Client, u string, form url.Values) *http.Response {
	t.Helper()
	resp, err := cl.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func get(t *testing.T, cl *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := cl.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestLogin(t *testing.T) {
	_, srv := testConsole(t, nil)
	cases := []struct {
		name, user, pass string
		status           int
		cookie           bool
	}{
		{"right password", "admin", "admin-pw", http.StatusSeeOther, true},
		{"user name in any case", "ADMIN", "admin-pw", http.StatusSeeOther, true},
		{"wrong password", "admin", "nope", http.StatusUnauthorized, false},
		{"unknown user", "mallory", "admin-pw", http.StatusUnauthorized, false},
		{"empty user", "", "x", http.StatusBadRequest, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, client(t), srv.URL+"/console/login", url.Values{"user": {tc.user}, "password": {tc.pass}})
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			var got *http.Cookie
			for _, c := range resp.Cookies() {
				if c.Name == cookieName {
					got = c
				}
			}
			if (got != nil) != tc.cookie {
				t.Fatalf("session cookie %v, want %v", got, tc.cookie)
			}
			if got == nil {
				return
			}
			if !got.HttpOnly || got.SameSite != http.SameSiteStrictMode || got.Path != "/console/" || got.Secure {
				t.Errorf("cookie flags: %+v (want HttpOnly, SameSite=Strict, path /console/, not Secure over plain HTTP)", got)
			}
		})
	}
}

func TestSecureCookieBehindTLS(t *testing.T) {
	c, _ := testConsole(t, nil)
	cases := []struct {
		name   string
		peer   string
		proto  string
		tls    bool
		secure bool
	}{
		{"plain HTTP", "10.0.0.1:1", "", false, false},
		{"TLS", "10.0.0.1:1", "", true, true},
		{"X-Forwarded-Proto from an untrusted peer", "10.0.0.1:1", "https", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/console/login", strings.NewReader("user=admin&password=admin-pw"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.RemoteAddr = tc.peer
			if tc.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tc.proto)
			}
			if tc.tls {
				r = httptest.NewRequest("POST", "https://x/console/login", strings.NewReader("user=admin&password=admin-pw"))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			w := httptest.NewRecorder()
			c.ServeHTTP(w, r)
			cs := w.Result().Cookies()
			if len(cs) != 1 || cs[0].Secure != tc.secure {
				t.Fatalf("cookies %+v, want one with Secure=%v", cs, tc.secure)
			}
		})
	}
}

func TestPagesNeedASession(t *testing.T) {
	_, srv := testConsole(t, nil)
	cl := client(t)
	for _, p := range []string{"/console/", "/console/cluster"} {
		resp, _ := get(t, cl, srv.URL+p)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/login" {
			t.Errorf("GET %s without a session: %d to %q, want 303 to the login page", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// A forged cookie is no session.
	u, _ := url.Parse(srv.URL + "/console/")
	cl.Jar.SetCookies(u, []*http.Cookie{{Name: cookieName, Value: "YWRtaW4.9999999999.x.sig"}})
	if resp, _ := get(t, cl, srv.URL+"/console/cluster"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("forged cookie: %d, want 303", resp.StatusCode)
	}
	if resp := post(t, cl, srv.URL+"/console/logout", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST with a forged cookie: %d, want 401", resp.StatusCode)
	}
}

// login logs cl in as user and returns the session's CSRF token, read
// from the cluster page.
func login(t *testing.T, srv *httptest.Server, cl *http.Client, user string) string {
	t.Helper()
	if resp := post(t, cl, srv.URL+"/console/login", url.Values{"user": {user}, "password": {user + "-pw"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login %s: %d", user, resp.StatusCode)
	}
	_, body := get(t, cl, srv.URL+"/console/cluster")
	_, rest, ok := strings.Cut(body, `name="csrf" value="`)
	if !ok {
		t.Fatalf("no CSRF token on the page:\n%s", body)
	}
	tok, _, _ := strings.Cut(rest, `"`)
	return tok
}

func TestCSRF(t *testing.T) {
	_, srv := testConsole(t, nil)
	cl := client(t)
	tok := login(t, srv, cl, "admin")
	other := login(t, srv, client(t), "eve")
	cases := []struct {
		name   string
		form   url.Values
		origin string
		status int
	}{
		{"no token", url.Values{}, "", http.StatusForbidden},
		{"wrong token", url.Values{"csrf": {"x" + tok}}, "", http.StatusForbidden},
		{"another session's token", url.Values{"csrf": {other}}, "", http.StatusForbidden},
		{"right token from another origin", url.Values{"csrf": {tok}}, "https://evil.example", http.StatusForbidden},
		{"right token", url.Values{"csrf": {tok}}, "", http.StatusSeeOther},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", srv.URL+"/console/logout", strings.NewReader(tc.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
}

func TestLoginThrottled(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	_, srv := testConsole(t, func(o *Options) {
		o.FreeFailures, o.BackoffBase, o.BackoffMax = 2, time.Minute, time.Hour
		o.Now = func() time.Time { return now }
	})
	cl := client(t)
	try := func(pass string) *http.Response {
		return post(t, cl, srv.URL+"/console/login", url.Values{"user": {"admin"}, "password": {pass}})
	}
	for i, want := range []int{401, 401, 401, 429} {
		if resp := try("bad"); resp.StatusCode != want {
			t.Fatalf("failure %d: status %d, want %d", i+1, resp.StatusCode, want)
		}
	}
	resp := try("admin-pw")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "60" {
		t.Fatalf("right password while locked: %d Retry-After %q, want 429 and 60", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Another user is not locked (the address allows 20 failures).
	if resp := post(t, cl, srv.URL+"/console/login", url.Values{"user": {"eve"}, "password": {"eve-pw"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("another user: %d", resp.StatusCode)
	}
	now = now.Add(time.Minute)
	if resp := try("admin-pw"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after the lock: %d", resp.StatusCode)
	}
}

func TestSessionExpires(t *testing.T) {
	now := time.Now() // the cookie jar drops a cookie past its Expires
	_, srv := testConsole(t, func(o *Options) {
		o.SessionTTL = time.Hour
		o.Now = func() time.Time { return now }
	})
	cl := client(t)
	login(t, srv, cl, "admin")
	now = now.Add(time.Hour)
	if resp, _ := get(t, cl, srv.URL+"/console/cluster"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("expired session: %d, want 303 to login", resp.StatusCode)
	}
}

func TestSessionKeyShared(t *testing.T) {
	key := []byte("shared-key-of-every-node-32bytes")
	_, a := testConsole(t, func(o *Options) { o.SessionKey = key })
	_, b := testConsole(t, func(o *Options) { o.SessionKey = key; o.Node = "n2" })
	_, c := testConsole(t, func(o *Options) { o.Node = "n3" })
	cl := client(t)
	login(t, a, cl, "admin")
	ua, _ := url.Parse(a.URL + "/console/")
	for _, tc := range []struct {
		srv  *httptest.Server
		want int
	}{{b, http.StatusOK}, {c, http.StatusSeeOther}} {
		u, _ := url.Parse(tc.srv.URL + "/console/")
		cl.Jar.SetCookies(u, cl.Jar.Cookies(ua))
		if resp, _ := get(t, cl, tc.srv.URL+"/console/cluster"); resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.srv.URL, resp.StatusCode, tc.want)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	_, srv := testConsole(t, nil)
	resp, _ := get(t, client(t), srv.URL+"/console/login")
	for h, want := range map[string]string{"X-Frame-Options": "DENY", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("CSP: %q", resp.Header.Get("Content-Security-Policy"))
	}
	if resp, _ := get(t, client(t), srv.URL+"/console/assets/console.css"); resp.StatusCode != 200 {
		t.Errorf("asset: %d", resp.StatusCode)
	}
}

func TestNeedsUsers(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("a console without users was built")
	}
}

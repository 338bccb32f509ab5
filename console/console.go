package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ctiws/ctiws/internal/backoff"
)

// Prefix is where the console is mounted on the internal listener.
const Prefix = "/console/"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Console serves the operator console. Build it with New and mount it at
// Prefix on the internal listener.
type Console struct {
	opt      Options
	sess     sessions
	throttle *backoff.Table
	pages    map[string]*template.Template
	mux      *http.ServeMux
	unmasked map[string]bool
	log      *slog.Logger
}

// New returns a console, or an error when Users is missing or a template
// does not parse.
func New(opt Options) (*Console, error) {
	if opt.Users == nil {
		return nil, errors.New("console: no users (htpasswd_file)")
	}
	opt.init()
	c := &Console{
		opt:      opt,
		sess:     newSessions(opt.SessionKey, opt.SessionTTL),
		throttle: backoff.New(opt.BackoffBase, opt.BackoffMax),
		pages:    map[string]*template.Template{},
		unmasked: map[string]bool{},
		log:      opt.Logger.With("component", "console"),
	}
	for _, u := range opt.Unmasked {
		c.unmasked[strings.ToLower(u)] = true
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", n, err)
		}
		c.pages[base] = t
	}
	c.routes()
	return c, nil
}

// ServeHTTP serves the console with its security headers.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: with no-referrer a browser sends
	// "Origin: null" on form posts, which the origin check refuses.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	c.mux.ServeHTTP(w, r)
}

func (c *Console) routes() {
	m := http.NewServeMux()
	assets, _ := fs.Sub(assetFS, "assets")
	m.Handle("GET /console/assets/", http.StripPrefix("/console/assets/", http.FileServerFS(assets)))
	m.HandleFunc("GET /console/login", c.loginPage)
	m.HandleFunc("POST /console/login", c.login)
	m.HandleFunc("POST /console/logout", c.authed(c.logout))
	m.HandleFunc("GET /console/{$}", c.authed(func(w http.ResponseWriter, r *http.Request, _ session) {
		http.Redirect(w, r, Prefix+"cluster", http.StatusSeeOther)
	}))
	m.HandleFunc("GET /console/cluster", c.authed(c.clusterPage))
	m.HandleFunc("GET /console/tenants", c.authed(c.tenantsPage))
	m.HandleFunc("GET /console/tenant/{id}", c.authed(c.tenantPage))
	m.HandleFunc("GET /console/tenant/{id}/events", c.authed(c.tenantEvents))
	m.HandleFunc("POST /console/action/{action}", c.authed(c.action))
	m.HandleFunc("GET /console/audit", c.authed(c.auditPage))
	m.HandleFunc("GET /console/trace/{tenant}/{$}", c.authed(c.tracePage))
	m.HandleFunc("GET /console/trace/{tenant}/{user}", c.authed(c.tracePage))
	m.HandleFunc("GET /console/trace/{tenant}/{user}/events", c.authed(c.traceEvents))
	c.mux = m
}

// authed wraps a handler that needs a session: without one a GET is sent
// to the login page and anything else gets 401; a POST must carry the
// session's CSRF token (403 otherwise).
func (c *Console) authed(h func(http.ResponseWriter, *http.Request, session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(cookieName)
		var ss session
		if err == nil {
			ss, err = c.sess.parse(ck.Value, c.opt.Now())
		}
		if err != nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
				return
			}
			http.Error(w, "not logged in", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if err := c.sess.checkCSRF(r, ss); err != nil {
				c.log.Warn("console request refused", "user", ss.User, "path", r.URL.Path,
					"from", clientAddr(r, c.opt.TrustedProxies), "err", err)
				http.Error(w, "refused: missing or wrong CSRF token", http.StatusForbidden)
				return
			}
		}
		h(w, r, ss)
	}
}

// page is what every template gets.
type page struct {
	Title    string
	User     string
	CSRF     string
	Node     string
	Version  string
	Unmasked bool
	Error    string
	Data     any
}

func (c *Console) render(w http.ResponseWriter, name string, status int, p page) {
	p.Node, p.Version = c.opt.Node, c.opt.Version
	t, ok := c.pages[name]
	if !ok {
		http.Error(w, "no such page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := t.Execute(w, p); err != nil {
		c.log.Error("console page failed", "page", name, "err", err)
	}
}

// pageOf fills the session's part of a page.
func (c *Console) pageOf(ss session, title string, data any) page {
	return page{Title: title, User: ss.User, CSRF: c.sess.csrf(ss), Unmasked: c.unmasked[ss.User], Data: data}
}

// timeout bounds the store reads of a page.
func timeout(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 3*time.Second)
}

var funcs = template.FuncMap{
	"unix": func(sec int64) string {
		if sec == 0 {
			return "—"
		}
		return time.Unix(sec, 0).UTC().Format("15:04:05 UTC")
	},
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return time.Since(t).Truncate(time.Second).String()
	},
	"dur":  func(d time.Duration) string { return d.Truncate(time.Second).String() },
	"mib":  func(b uint64) string { return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + " MiB" },
	"join": func(s []string) string { return strings.Join(s, ", ") },
	"has":  func(s []string, v string) bool { return slices.Contains(s, v) },
}

package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// cookieName is the session cookie; "__Host-" would forbid plain HTTP,
// which the internal listener usually is.
const cookieName = "ctiws_console"

// session is one logged-in console user, carried in a signed cookie:
// nothing is stored server-side, so any node that shares the session key
// accepts it.
type session struct {
	User    string
	Expires time.Time
	ID      string // random: the CSRF token is bound to it
}

// sessions signs and checks session cookies and CSRF tokens.
type sessions struct {
	key []byte
	ttl time.Duration
}

func newSessions(key []byte, ttl time.Duration) sessions {
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	return sessions{key: key, ttl: ttl}
}

var b64 = base64.RawURLEncoding

func (s sessions) mac(parts ...string) string {
	m := hmac.New(sha256.New, s.key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return b64.EncodeToString(m.Sum(nil))
}

// issue returns a new session of user and its cookie value.
func (s sessions) issue(user string, now time.Time) (session, string) {
	var id [16]byte
	_, _ = rand.Read(id[:])
	ss := session{User: user, Expires: now.Add(s.ttl).Truncate(time.Second), ID: b64.EncodeToString(id[:])}
	payload := b64.EncodeToString([]byte(ss.User)) + "." + strconv.FormatInt(ss.Expires.Unix(), 10) + "." + ss.ID
	return ss, payload + "." + s.mac("session", payload)
}

// parse checks a cookie value: signature first, then expiry.
func (s sessions) parse(v string, now time.Time) (session, error) {
	i := strings.LastIndexByte(v, '.')
	if i < 0 {
		return session{}, ErrNoSession
	}
	payload, sig := v[:i], v[i+1:]
	if subtle.ConstantTimeCompare([]byte(sig), []byte(s.mac("session", payload))) != 1 {
		return session{}, ErrNoSession
	}
	f := strings.Split(payload, ".")
	if len(f) != 3 {
		return session{}, ErrNoSession
	}
	user, err := b64.DecodeString(f[0])
	if err != nil {
		return session{}, fmt.Errorf("%w: user: %w", ErrNoSession, err)
	}
	exp, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return session{}, fmt.Errorf("%w: expiry: %w", ErrNoSession, err)
	}
	ss := session{User: string(user), Expires: time.Unix(exp, 0), ID: f[2]}
	if !now.Before(ss.Expires) {
		return session{}, fmt.Errorf("%w: expired", ErrNoSession)
	}
	return ss, nil
}

// csrf is the session's CSRF token: every form carries it, every POST
// must send it back (form field "csrf" or header X-CSRF-Token).
func (s sessions) csrf(ss session) string { return s.mac("csrf", ss.ID) }

// checkCSRF compares the request's token with the session's, in constant
// time, and refuses a POST that says it comes from another origin.
func (s sessions) checkCSRF(r *http.Request, ss session) error {
	if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r.Host) {
		return fmt.Errorf("%w: origin %q", ErrCSRF, o)
	}
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf(ss))) != 1 {
		return ErrCSRF
	}
	return nil
}

// sameOrigin reports whether an Origin header names host.
func sameOrigin(origin, host string) bool {
	_, rest, ok := strings.Cut(origin, "://")
	return ok && strings.EqualFold(rest, host)
}

// cookie is the session cookie: HttpOnly, SameSite=Strict, Secure when the
// request came over TLS, path /console/.
func (s sessions) cookie(value string, expires time.Time, secure bool) *http.Cookie {
	c := &http.Cookie{Name: cookieName, Value: value, Path: "/console/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: secure}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	return c
}

// overTLS reports whether the client reached us over TLS: directly, or
// through a trusted proxy that says so.
func overTLS(r *http.Request, trusted []netip.Prefix) bool {
	if r.TLS != nil {
		return true
	}
	return peerTrusted(r, trusted) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// clientAddr is the client's address: the peer, or the right-most address
// of X-Forwarded-For that is not a trusted proxy when the peer is one.
// An IPv6 address stands for its /64.
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	addr := peer(r)
	if addr.IsValid() && isTrusted(addr, trusted) {
		hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break
			}
			addr = a.Unmap()
			if !isTrusted(addr, trusted) {
				break
			}
		}
	}
	if !addr.IsValid() {
		return r.RemoteAddr
	}
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

func peer(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func peerTrusted(r *http.Request, trusted []netip.Prefix) bool {
	a := peer(r)
	return a.IsValid() && isTrusted(a, trusted)
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

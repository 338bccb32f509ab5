package console

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxLoginField bounds the user name and password of a login.
const maxLoginField = 256

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, "login", http.StatusOK, page{Title: "Log in"})
}

// login checks a console user's password (bcrypt; an unknown user costs
// the same) under the back-off per user and address; a locked key gets
// 429 with Retry-After even with the right password.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r.Host) {
		http.Error(w, "refused: cross-origin login", http.StatusForbidden)
		return
	}
	user := strings.ToLower(strings.TrimSpace(r.PostFormValue("user")))
	pass := r.PostFormValue("password")
	addr := clientAddr(r, c.opt.TrustedProxies)
	now := c.opt.Now()
	if user == "" || len(user) > maxLoginField || len(pass) > maxLoginField {
		c.render(w, "login", http.StatusBadRequest, page{Title: "Log in", Error: "User and password are required."})
		return
	}
	uk, ak := "u:"+user, "a:"+addr
	if d := max(c.throttle.Wait(uk, now), c.throttle.Wait(ak, now)); d > 0 {
		secs := int((d + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		c.log.Warn("console login throttled", "user", user, "from", addr)
		c.render(w, "login", http.StatusTooManyRequests, page{Title: "Log in",
			Error: "Too many failed logins: try again in " + strconv.Itoa(secs) + " s."})
		return
	}
	if !c.opt.Users.Check(user, pass) {
		c.throttle.Fail(uk, c.opt.FreeFailures, now)
		c.throttle.Fail(ak, c.opt.AddrFreeFailures, now)
		c.log.Warn("console login failed", "user", user, "from", addr)
		c.render(w, "login", http.StatusUnauthorized, page{Title: "Log in", Error: "Wrong user or password."})
		return
	}
	c.throttle.Reset(uk)
	ss, v := c.sess.issue(user, now)
	http.SetCookie(w, c.sess.cookie(v, ss.Expires, overTLS(r, c.opt.TrustedProxies)))
	c.log.Info("console login", "user", user, "from", addr)
	http.Redirect(w, r, Prefix+"cluster", http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, ss session) {
	http.SetCookie(w, c.sess.cookie("", time.Time{}, overTLS(r, c.opt.TrustedProxies)))
	c.log.Info("console logout", "user", ss.User, "from", clientAddr(r, c.opt.TrustedProxies))
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
}

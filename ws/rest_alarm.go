package ws

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

// restAlarm accepts a collectd notification and sends qmAlarm to the
// qmanager room. The poster proves itself with the tenant's alarm secret
// (`Authorization: Alarm <secret>`) or a user token with the qmanager
// permission; a loopback address proves nothing behind a proxy or sidecar.
// Wrong alarm secrets are throttled per client address like failed
// password logins (429 with Retry-After) and logged within the
// failed-login log budget.
func (a *restAPI) restAlarm(w http.ResponseWriter, r *http.Request, t *Tenant) {
	if !a.alarmAllowed(w, r, t) {
		return
	}
	var body struct {
		Type         string `json:"type"`
		Notification struct {
			Status       string `json:"status"`
			Type         string `json:"type"`
			TypeInstance string `json:"type_instance"`
		} `json:"notification"`
	}
	if err := decodeBody(r, &body); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	n := body.Notification
	queue := strings.ReplaceAll(n.TypeInstance, "Queue", "")
	if n.Status == "" || n.Type == "" || queue == "" {
		writeError(w, http.StatusBadRequest, "notification needs status, type and type_instance")
		return
	}
	payload := map[string]string{"date": time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), "status": strings.ToLower(n.Status), "alarm": n.Type, "queue": queue}
	raw, _ := json.Marshal([]any{payload})
	ev := cluster.Event{Tenant: t.ID, Name: evQMAlarm, Target: targetRoomPrefix + roomNameQManager, Data: raw, Origin: a.nodeID}
	if err := a.bus.Publish(r.Context(), ev); err != nil {
		writeError(w, http.StatusServiceUnavailable, "bus unavailable")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": "ok"})
}

// alarmAllowed checks the credential of an alarm poster and answers the
// refusals itself (403, or 429 for an address locked by wrong secrets).
func (a *restAPI) alarmAllowed(w http.ResponseWriter, r *http.Request, t *Tenant) bool {
	forbidden := func() bool {
		a.metrics.RESTRefused.WithLabelValues(t.ID, "alarm_forbidden").Inc()
		writeError(w, http.StatusForbidden, "alarm secret or qmanager permission required")
		return false
	}
	secret, isSecret := strings.CutPrefix(r.Header.Get("Authorization"), "Alarm ")
	if !isSecret {
		u, err := a.restAuth(r, t)
		if err != nil && refused(err) {
			a.auth.loginFailed(t, "alarm", restUser(r), err)
		}
		if err != nil || u == nil || !u.Perms.QManager {
			return forbidden()
		}
		return true
	}
	// Its own key: a monitoring agent that lost its secret does not lock
	// the password logins of the users behind the same address.
	key := "m\x00" + t.ID + "\x00" + addrKey(clientAddr(r, a.trustedProxies))
	now := time.Now()
	if wait := a.failures.Wait(key, now); wait > 0 {
		a.metrics.LoginThrottled.WithLabelValues(t.ID, "alarm").Inc()
		a.auth.loginFailed(t, "alarm", "", errLogin("too many wrong alarm secrets: address locked"), "retry_after", wait.Round(time.Second).String())
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		writeError(w, http.StatusTooManyRequests, "too many wrong alarm secrets, retry later")
		return false
	}
	want := t.Config().AlarmSecret
	if len(want) > 0 && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(secret)), want) == 1 {
		return true
	}
	a.failures.Fail(key, a.loginLimits.FreeAddress, now)
	a.auth.loginFailed(t, "alarm", "", errWrongAlarm)
	return forbidden()
}

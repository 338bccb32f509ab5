package ws

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

// restAlarm accepts a collectd notification and sends qmAlarm to the
// qmanager room. The poster proves itself with the tenant's alarm secret
// (`Authorization: Alarm <secret>`) or a user token with the qmanager
// permission; a loopback address proves nothing behind a proxy or sidecar.
func (a *restAPI) restAlarm(w http.ResponseWriter, r *http.Request, t *Tenant) {
	if !a.alarmAllowed(r, t) {
		a.metrics.RESTRefused.WithLabelValues(t.ID, "alarm_forbidden").Inc()
		writeError(w, http.StatusForbidden, "alarm secret or qmanager permission required")
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

// alarmAllowed checks the credential of an alarm poster.
func (a *restAPI) alarmAllowed(r *http.Request, t *Tenant) bool {
	if secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Alarm "); ok {
		want := t.Config().AlarmSecret
		return len(want) > 0 && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(secret)), want) == 1
	}
	u, err := a.restAuth(r, t)
	return err == nil && u != nil && u.Perms.QManager
}

package ws

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// restAvatar publishes `userProfileAvatarUpdate` with the avatar as the
// original does (a data URL), but only a PNG, JPEG or WebP image within
// the avatar limits: it goes to every logged-in socket of the tenant.
func (a *restAPI) restAvatar(q *request) {
	lim := a.limits
	// A base64 data URL is 4/3 of the image, plus the JSON around it.
	q.r.Body = http.MaxBytesReader(q.w, q.r.Body, int64(lim.AvatarBytes)*4/3+4096)
	var body struct {
		Avatar *string `json:"avatar"`
	}
	if err := decodeBody(q.r, &body); err != nil {
		if errors.Is(err, errBodyTooLarge) {
			a.limitReject(q, limitAvatarBytes, http.StatusRequestEntityTooLarge, "avatar larger than "+strconv.Itoa(lim.AvatarBytes)+" bytes")
			return
		}
		writeError(q.w, http.StatusBadRequest, err.Error())
		return
	}
	payload := map[string]string{"username": q.user.Username}
	if body.Avatar != nil && *body.Avatar != "" {
		if aerr := checkAvatar(*body.Avatar, lim.AvatarBytes, lim.AvatarDimension); aerr != nil {
			a.limitReject(q, aerr.limit, aerr.status, aerr.msg)
			return
		}
		payload["avatar"] = *body.Avatar
	}
	if a.publish(q, "userProfileAvatarUpdate", targetAllLoggedIn, payload) {
		writeJSON(q.w, http.StatusOK, map[string]string{"message": "ok"})
	}
}

func (a *restAPI) restDefaultDevice(q *request) {
	var body struct {
		ID string `json:"id"`
	}
	if err := decodeBody(q.r, &body); err != nil || body.ID == "" {
		writeError(q.w, http.StatusBadRequest, "body must be {\"id\":\"<extension>\"}")
		return
	}
	if !q.user.Owns(body.ID) {
		writeError(q.w, http.StatusForbidden, "extension does not belong to the user")
		return
	}
	if a.publish(q, "updateDefaultDevice", strings.ToLower(q.user.Username), body.ID) {
		writeJSON(q.w, http.StatusOK, map[string]string{"message": "ok"})
	}
}

// restPostit sends a post-it to its recipient; the text is capped at
// Limits.PostitBytes (413 above).
func (a *restAPI) restPostit(q *request) {
	var body struct {
		Recipient string `json:"recipient"`
		Text      string `json:"text"`
	}
	err := decodeBody(q.r, &body)
	if errors.Is(err, errBodyTooLarge) || len(body.Text) > a.limits.PostitBytes {
		a.limitReject(q, limitPostitBytes, http.StatusRequestEntityTooLarge, "post-it text larger than "+strconv.Itoa(a.limits.PostitBytes)+" bytes")
		return
	}
	if err != nil || body.Recipient == "" || body.Text == "" || len(body.Recipient) > 256 {
		writeError(q.w, http.StatusBadRequest, "body must be {\"recipient\":\"<user>\",\"text\":\"…\"}")
		return
	}
	rcpt, ok := q.cfg.Directory.User(body.Recipient)
	if !ok {
		writeError(q.w, http.StatusNotFound, "no such recipient")
		return
	}
	target := strings.ToLower(rcpt.Username)
	postit := map[string]any{"creator": q.user.Username, "recipient": rcpt.Username, "text": body.Text, "creation": time.Now().UTC().Format(time.RFC3339)}
	if !a.publish(q, "updateNewPostit", target, []any{postit}) {
		return
	}
	if a.publish(q, "newPostitCounter", target, map[string]any{"user": rcpt.Username, "counter": 1}) {
		writeJSON(q.w, http.StatusOK, map[string]string{"message": "ok"})
	}
}

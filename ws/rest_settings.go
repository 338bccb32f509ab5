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
// the avatar limits and the user's avatar rate (429 above): it goes to
// every logged-in socket of the tenant, keyed by the user, so a receiver's
// queue holds at most the newest unsent avatar of each user.
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
	if !a.userRateOK(q, userKindAvatar) {
		return
	}
	if a.publishKeyed(q, evAvatarUpdate, targetAllLoggedIn, strings.ToLower(q.user.Username), payload) {
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
// Limits.PostitBytes (413 above), the sender's post-its per second at
// Limits.UserPostit (429 above).
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
	if !a.userRateOK(q, userKindPostit) {
		return
	}
	target := strings.ToLower(rcpt.Username)
	postit := map[string]any{"creator": q.user.Username, "recipient": rcpt.Username, "text": body.Text, "creation": time.Now().UTC().Format(time.RFC3339)}
	if !a.publish(q, evNewPostit, target, []any{postit}) {
		return
	}
	if a.publish(q, evPostitCounter, target, map[string]any{"user": rcpt.Username, "counter": 1}) {
		writeJSON(q.w, http.StatusOK, map[string]string{"message": "ok"})
	}
}

package ws

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	_ "image/jpeg" // registers the JPEG decoder for avatars
	_ "image/png"  // registers the PNG decoder for avatars
	"net/http"
	"strings"

	_ "golang.org/x/image/webp" // registers the WebP decoder for avatars
)

// avatarTypes maps the accepted data URL media types to the format name
// the image package reports. SVG is not accepted: it can carry scripts.
var avatarTypes = map[string]string{
	"image/png":  "png",
	"image/jpeg": "jpeg",
	"image/jpg":  "jpeg",
	"image/webp": "webp",
}

// avatarError is why an avatar was refused: the HTTP status, the limit
// (metric label) and a message for the client.
type avatarError struct {
	status int
	limit  string
	msg    string
}

func (e *avatarError) Error() string { return e.msg }

// checkAvatar validates a `data:image/…;base64,…` avatar: PNG, JPEG or
// WebP, at most maxBytes once decoded, at most maxDim pixels wide and
// high, and an image that decodes. The dimensions are read from the header
// before the image is decoded, so a small file that claims a huge image is
// refused without allocating it.
func checkAvatar(dataURL string, maxBytes, maxDim int) *avatarError {
	header, b64, ok := strings.Cut(strings.TrimPrefix(dataURL, "data:"), ",")
	if !ok || !strings.HasPrefix(dataURL, "data:") {
		return &avatarError{http.StatusBadRequest, limitAvatarType, "avatar must be a data:image/png|jpeg|webp;base64,… URL"}
	}
	mediaType, params, _ := strings.Cut(header, ";")
	format, known := avatarTypes[strings.ToLower(strings.TrimSpace(mediaType))]
	if !known || !strings.EqualFold(strings.TrimSpace(params), "base64") {
		return &avatarError{http.StatusBadRequest, limitAvatarType, "avatar must be a base64 PNG, JPEG or WebP image (SVG and other types are refused)"}
	}
	if base64.StdEncoding.DecodedLen(len(b64)) > maxBytes+3 {
		return &avatarError{http.StatusRequestEntityTooLarge, limitAvatarBytes, fmt.Sprintf("avatar larger than %d bytes", maxBytes)}
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return &avatarError{http.StatusBadRequest, limitAvatarDecode, "avatar is not valid base64"}
	}
	if len(raw) > maxBytes {
		return &avatarError{http.StatusRequestEntityTooLarge, limitAvatarBytes, fmt.Sprintf("avatar larger than %d bytes", maxBytes)}
	}
	cfg, got, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return &avatarError{http.StatusBadRequest, limitAvatarDecode, "avatar is not a PNG, JPEG or WebP image"}
	}
	if got != format {
		return &avatarError{http.StatusBadRequest, limitAvatarType, fmt.Sprintf("avatar declared as %s but is %s", mediaType, got)}
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > maxDim || cfg.Height > maxDim {
		return &avatarError{http.StatusBadRequest, limitAvatarDimensions, fmt.Sprintf("avatar is %dx%d pixels; at most %dx%d are accepted", cfg.Width, cfg.Height, maxDim, maxDim)}
	}
	if _, _, err := image.Decode(bytes.NewReader(raw)); err != nil {
		return &avatarError{http.StatusBadRequest, limitAvatarDecode, "avatar image data is corrupt"}
	}
	return nil
}

package ws_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/ws"
	"github.com/ctiws/ctiws/ws/auth"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// tinyWebP is a 1×1 lossless WebP.
const tinyWebP = "UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA=="

// dataURL encodes an image of w×h pixels in a format as a data URL.
func dataURL(t *testing.T, format string, w, h int) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	img.Set(0, 0, color.RGBA{R: 200, A: 255})
	var b bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&b, img)
	case "jpeg":
		err = jpeg.Encode(&b, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return "data:image/" + format + ";base64," + base64.StdEncoding.EncodeToString(b.Bytes())
}

func postJSON(t *testing.T, url, auth, body string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAvatarLimits: only PNG, JPEG and WebP avatars within the size and
// dimension limits are broadcast; everything else is refused with 400 or
// 413, counted, and sent to nobody.
func TestAvatarLimits(t *testing.T) {
	e := newEnv(t)
	_ = e.backend.Tokens.Put(context.Background(), "t1", "alice", auth.HashToken("tok-alice"), time.Hour)
	bob := e.login("t1", "bob", "mobile")
	e.settle("t1", bob)
	reset(bob)

	pngOK := dataURL(t, "png", 64, 64)
	jpegOK := dataURL(t, "jpeg", 32, 32)
	webpOK := "data:image/webp;base64," + tinyWebP
	svg := "data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString([]byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`))
	pngBytes, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(pngOK, "data:image/png;base64,"))
	truncated := "data:image/png;base64," + base64.StdEncoding.EncodeToString(pngBytes[:len(pngBytes)-20])
	big := "data:image/png;base64," + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x89}, ws.DefaultAvatarBytes+1))
	huge := "data:image/png;base64," + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x89}, 2<<20))

	tests := []struct {
		name, avatar string
		want         int
		limit        string // counted limit, "" when accepted
	}{
		{"png", pngOK, 200, ""},
		{"jpeg", jpegOK, 200, ""},
		{"webp", webpOK, 200, ""},
		{"svg", svg, 400, "avatar_type"},
		{"not base64-encoded", "data:image/png," + "abc", 400, "avatar_type"},
		{"declared png, is jpeg", "data:image/png;base64," + strings.TrimPrefix(jpegOK, "data:image/jpeg;base64,"), 400, "avatar_type"},
		{"not an image", "data:image/png;base64," + base64.StdEncoding.EncodeToString([]byte("hello world")), 400, "avatar_decode"},
		{"corrupt image data", truncated, 400, "avatar_decode"},
		{"too wide", dataURL(t, "png", ws.DefaultAvatarDimension+1, 1), 400, "avatar_dimensions"},
		{"too many bytes", big, 413, "avatar_bytes"},
		{"body over the avatar cap", huge, 413, "avatar_bytes"},
	}
	accepted := 0
	for _, tc := range tests {
		before := testutil.ToFloat64(e.srv.Metrics().LimitRejects.WithLabelValues("t1", tc.limit))
		got := postJSON(t, e.hs.URL+"/webrest/user/profile/avatar", "alice:tok-alice", `{"avatar":"`+tc.avatar+`"}`)
		if got != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.name, got, tc.want)
		}
		if tc.limit == "" {
			accepted++
			continue
		}
		if after := testutil.ToFloat64(e.srv.Metrics().LimitRejects.WithLabelValues("t1", tc.limit)); after != before+1 {
			t.Errorf("%s: limit_rejects{%s} %v -> %v, want +1", tc.name, tc.limit, before, after)
		}
	}
	e.settle("t1", bob)
	got := bob.events("userProfileAvatarUpdate")
	if len(got) != accepted {
		t.Fatalf("bob got %d avatar updates, want %d (only the accepted ones)", len(got), accepted)
	}
	// The event carries what the original carries: the data URL as sent.
	if want := `{"avatar":"` + pngOK + `","username":"alice"}`; string(got[0].args[0]) != want {
		t.Errorf("first avatar event = %.120s…", got[0].args[0])
	}
}

// TestPostitSize: a post-it over max_postit_bytes is refused with 413 and
// counted; one at the limit is delivered.
func TestPostitSize(t *testing.T) {
	e := newEnv(t)
	_ = e.backend.Tokens.Put(context.Background(), "t1", "alice", auth.HashToken("tok-alice"), time.Hour)
	bob := e.login("t1", "bob", "mobile")
	e.settle("t1", bob)
	reset(bob)
	url := e.hs.URL + "/webrest/postit/create"
	if got := postJSON(t, url, "alice:tok-alice", `{"recipient":"bob","text":"`+strings.Repeat("a", ws.DefaultPostitBytes+1)+`"}`); got != 413 {
		t.Errorf("oversize post-it: HTTP %d, want 413", got)
	}
	if got := testutil.ToFloat64(e.srv.Metrics().LimitRejects.WithLabelValues("t1", "postit_bytes")); got != 1 {
		t.Errorf("limit_rejects{postit_bytes} = %v, want 1", got)
	}
	if got := postJSON(t, url, "alice:tok-alice", `{"recipient":"bob","text":"`+strings.Repeat("a", ws.DefaultPostitBytes)+`"}`); got != 200 {
		t.Errorf("post-it at the limit: HTTP %d, want 200", got)
	}
	e.settle("t1", bob)
	if n := len(bob.events("updateNewPostit")); n != 1 {
		t.Errorf("bob got %d post-its, want 1", n)
	}
}

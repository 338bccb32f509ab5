package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/ctiws/ctiws/ws/client"
)

// cmdWatch logs in like phone-island and prints every event as one JSON
// line: {"time":…,"event":…,"args":[…]}.
func cmdWatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8181", "server base URL")
	user := fs.String("user", "", "username")
	password := fs.String("password", "", "password (REST login); visible to other local users in ps: prefer -password-file, "+watchPasswordEnv+" or the prompt")
	passwordFile := fs.String("password-file", "", "read the password from this file (its first line)")
	token := fs.String("token", "", "token or JWT instead of -password")
	uaType := fs.String("ua", "desktop", "uaType: desktop, mobile or empty")
	host := fs.String("host", "", "Host header (selects the tenant)")
	duration := fs.Duration("duration", 0, "stop after this long (0: until interrupted)")
	if err := fs.Parse(args); err != nil {
		return errUsage{err}
	}
	if *user == "" {
		return usageErr("watch needs -user")
	}
	pw := ""
	if *token == "" {
		var err error
		pw, err = watchPassword(passwordSources{flag: *password, file: *passwordFile, getenv: os.Getenv, prompt: terminalPrompt(stderr)})
		if err != nil {
			return err
		}
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	hc := &http.Client{Timeout: 15 * time.Second}
	hdr := http.Header{}
	if *host != "" {
		hc.Transport = hostTransport{host: *host}
		hdr.Set("Host", *host)
	}
	tok := *token
	if tok == "" {
		var err error
		if tok, err = client.RESTLogin(ctx, hc, *url, *user, pw); err != nil {
			return err
		}
	}
	var mu sync.Mutex
	enc := json.NewEncoder(stdout)
	c, err := client.Dial(ctx, client.Options{
		URL: *url, User: *user, Token: tok, UAType: *uaType, Header: hdr,
		OnEvent: func(name string, args []json.RawMessage, at time.Time) {
			mu.Lock()
			defer mu.Unlock()
			_ = enc.Encode(map[string]any{"time": at.UTC().Format(time.RFC3339Nano), "event": name, "args": args})
		},
	})
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer c.Close()
	fmt.Fprintf(stderr, "ctiws watch: logged in as %s (socket %s)\n", *user, c.SocketID)
	select {
	case <-ctx.Done():
		return nil
	case <-c.Done():
		if err := c.Err(); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("connection closed: %w", err)
		}
		return errors.New("connection closed by the server")
	}
}

// hostTransport sets the Host header of REST requests (tenant selection).
type hostTransport struct{ host string }

func (h hostTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Host = h.host
	return http.DefaultTransport.RoundTrip(r)
}

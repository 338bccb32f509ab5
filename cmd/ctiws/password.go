package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// watchPasswordEnv is the environment variable `ctiws watch` reads the
// password from.
const watchPasswordEnv = "CTIWS_WATCH_PASSWORD"

// passwordSources are the places `ctiws watch` takes the password from, in
// this order: the -password flag, the -password-file file, the
// environment, an interactive prompt.
type passwordSources struct {
	flag, file string
	getenv     func(string) string
	// prompt asks on the terminal; nil when stdin is not a terminal.
	prompt func() (string, error)
}

// watchPassword returns the password of the first source that has one.
func watchPassword(src passwordSources) (string, error) {
	if src.flag != "" && src.file != "" {
		return "", usageErr("watch: set -password or -password-file, not both")
	}
	if src.flag != "" {
		return src.flag, nil
	}
	if src.file != "" {
		b, err := os.ReadFile(src.file)
		if err != nil {
			return "", usageErr("watch: -password-file: %w", err)
		}
		first, _, _ := strings.Cut(string(b), "\n")
		pw := strings.TrimRight(first, "\r")
		if pw == "" {
			return "", usageErr("watch: -password-file %s: the first line is empty", src.file)
		}
		return pw, nil
	}
	if src.getenv != nil {
		if pw := src.getenv(watchPasswordEnv); pw != "" {
			return pw, nil
		}
	}
	if src.prompt != nil {
		pw, err := src.prompt()
		if err != nil {
			return "", fmt.Errorf("watch: read password: %w", err)
		}
		if pw == "" {
			return "", usageErr("watch: empty password")
		}
		return pw, nil
	}
	return "", usageErr("watch needs a password: -password-file FILE, %s, a terminal to prompt on, or -password (visible in ps); or -token", watchPasswordEnv)
}

// terminalPrompt asks for the password on the terminal without echo, or
// returns nil when stdin is not a terminal.
func terminalPrompt(w io.Writer) func() (string, error) {
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil
	}
	return func() (string, error) {
		fmt.Fprint(w, "Password: ")
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(w)
		return string(b), err
	}
}

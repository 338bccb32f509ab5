package main

import (
	"context"
	"fmt"
	"io"
)

// subcommand describes one ctiws subcommand for `ctiws help`.
type subcommand struct {
	name, args, summary string
	// flags prints the subcommand's flags to w (it runs the subcommand with
	// -h, which only prints them).
	flags func(ctx context.Context, w io.Writer) error
}

// subcommands lists every subcommand, in the order `ctiws help` shows them.
func subcommands() []subcommand {
	return []subcommand{
		{"serve", "-config FILE", "run a node",
			func(ctx context.Context, w io.Writer) error { return cmdServe(ctx, []string{"-h"}, w) }},
		{"watch", "-url URL -user U [-password-file F | -token T]", "log in and print live events",
			func(ctx context.Context, w io.Writer) error { return cmdWatch(ctx, []string{"-h"}, w, w) }},
		{"amisim", "-listen ADDR", "run the simulated Asterisk (AMI)",
			func(ctx context.Context, w io.Writer) error { return cmdAmisim(ctx, []string{"-h"}, w) }},
		{"bench", "[flags]", "load generator (make bench)",
			func(ctx context.Context, w io.Writer) error { return cmdBench(ctx, []string{"-h"}, w, w) }},
		{"token", "-config FILE [-tenant T] -user U", "print a JWT for a user",
			func(ctx context.Context, w io.Writer) error { return cmdToken([]string{"-h"}, w, w) }},
		{"tokens", "list|revoke -config FILE [-tenant T] -user U [-hash H | -all]", "list or revoke a user's tokens",
			func(ctx context.Context, w io.Writer) error { return cmdTokens(ctx, []string{"list", "-h"}, w, w) }},
		{"version", "", "print the version", nil},
		{"help", "[COMMAND]", "list the commands, or show a command's flags", nil},
	}
}

// printUsage writes the command list, one line per subcommand.
func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: ctiws COMMAND [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range subcommands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'ctiws help COMMAND' for a command's flags.")
}

// cmdHelp answers `ctiws help [COMMAND]`: the command list, or one
// command's synopsis and flags.
func cmdHelp(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		printUsage(stdout)
		return nil
	}
	for _, c := range subcommands() {
		if c.name != args[0] {
			continue
		}
		fmt.Fprintf(stdout, "usage: ctiws %s %s\n  %s\n", c.name, c.args, c.summary)
		if c.flags == nil {
			return nil
		}
		return c.flags(ctx, stdout)
	}
	return usageErr("help: unknown command %q (run 'ctiws help' for the list)", args[0])
}

// Command ctiws is a horizontally scalable, drop-in replacement for
// NethCTI's websocket server. Subcommands:
//
//	ctiws serve   -config FILE        run a node
//	ctiws watch   -url URL -user U -password P   log in and print live events
//	ctiws amisim  -listen ADDR        run the simulated Asterisk (AMI)
//	ctiws bench   …                   load generator
//	ctiws token   -config FILE -tenant T -user U   print a JWT for a user
//	ctiws tokens  list|revoke -config FILE -tenant T -user U [-hash H|-all]   operator token commands
//	ctiws version
//	ctiws help [COMMAND]               list the commands, or one command's flags
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// exitUsage is the exit code for bad flags or configuration.
const exitUsage = 2

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks errors that exit with code 2.
type errUsage struct{ err error }

func (e errUsage) Error() string { return e.err.Error() }
func (e errUsage) Unwrap() error { return e.err }

func usageErr(format string, a ...any) error { return errUsage{fmt.Errorf(format, a...)} }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(ctx, args[1:], stderr)
	case "watch":
		err = cmdWatch(ctx, args[1:], stdout, stderr)
	case "amisim":
		err = cmdAmisim(ctx, args[1:], stderr)
	case "bench":
		err = cmdBench(ctx, args[1:], stdout, stderr)
	case "token":
		err = cmdToken(args[1:], stdout, stderr)
	case "tokens":
		err = cmdTokens(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		err = cmdHelp(ctx, args[1:], stdout)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "ctiws", version)
		return 0
	default:
		fmt.Fprintf(stderr, "ctiws: unknown command %q (run 'ctiws help' for the list)\n", args[0])
		return exitUsage
	}
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "ctiws:", err)
	var ue errUsage
	if errors.As(err, &ue) {
		return exitUsage
	}
	if _, ok := errors.AsType[errSchema](err); ok {
		return exitSchema
	}
	return 1
}

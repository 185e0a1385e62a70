// Package cli is what every orderq command shares: its exit statuses, and how
// the error its run returns maps to one of them, so that a script or a CI job
// reads a status the same way whichever command it ran.
//
// A command's run returns nil for ExitOK, an error that is ErrFailed (wrapped,
// or made by Failure) when the work was done and what it checks is broken, a
// UsageError when the command line names nothing it can run, and any other
// error when the work could not be done. Main prints that error and exits
// with its status.
package cli

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

// Exit statuses.
const (
	ExitOK     = 0 // the work was done, and every check held
	ExitFailed = 1 // the work was done, and a checked invariant or audit failed
	ExitUsage  = 2 // the command line names nothing the command can run
	ExitCannot = 3 // the work could not be done: a setting missing, a server unreachable, a credential refused, interrupted
)

// ErrFailed means a command ran and found what it checks broken; its output
// says what.
var ErrFailed = errors.New("check failed")

// Failure returns a sentinel of a command's own that is ErrFailed to
// errors.Is, so the command keeps its own words ("invariants violated") and
// still exits with ExitFailed.
func Failure(msg string) error { return &failure{msg} }

type failure struct{ msg string }

func (f *failure) Error() string        { return f.msg }
func (f *failure) Is(target error) bool { return target == ErrFailed }

// UsageError is a command line the command cannot run; Help is the command
// line that explains it.
type UsageError struct {
	Err  error
	Help string
}

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Code is the exit status of err, as a command's run returned it.
func Code(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrFailed):
		return ExitFailed
	case errors.As(err, new(UsageError)):
		return ExitUsage
	default:
		return ExitCannot
	}
}

// Main runs the command name until run returns or a signal cancels its
// context, prints the error, if any, and exits with its status.
func Main(name string, run func(ctx context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	os.Exit(report(os.Stderr, name, err))
}

// report writes err to w as Main does, and returns the status to exit with.
// Its writes go unchecked: there is nowhere left to say they failed.
func report(w io.Writer, name string, err error) int {
	if err != nil {
		fmt.Fprintf(w, "%s: %v\n", name, err)
		var ue UsageError
		if errors.As(err, &ue) {
			fmt.Fprintf(w, "run '%s' for usage\n", ue.Help)
		}
	}
	return Code(err)
}

// Parse parses args into fs, a flag.ContinueOnError set whose output the
// command chose. It returns flag.ErrHelp as it is, for the command to print
// its help and succeed; any other flag error, or an argument left over, is a
// UsageError pointing at help.
func Parse(fs *flag.FlagSet, args []string, help string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return UsageError{Err: err, Help: help}
	}
	if fs.NArg() > 0 {
		return UsageError{Err: fmt.Errorf("unexpected argument %q", fs.Arg(0)), Help: help}
	}
	return nil
}

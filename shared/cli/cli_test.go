package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestCode(t *testing.T) {
	violated := Failure("invariants violated")
	tests := []struct {
		name string
		err  error
		want int
	}{
		{name: "success", want: ExitOK},
		{name: "failed", err: fmt.Errorf("%w: 3 items", ErrFailed), want: ExitFailed},
		{name: "a command's own failure", err: fmt.Errorf("%w: 2", violated), want: ExitFailed},
		{name: "usage", err: UsageError{Err: errors.New("no command"), Help: "orderqctl help"}, want: ExitUsage},
		{name: "usage, wrapped", err: fmt.Errorf("token: %w", UsageError{Err: errors.New("--sub is required"), Help: "orderqctl help token"}), want: ExitUsage},
		{name: "cannot run", err: errors.New("create item: connection refused"), want: ExitCannot},
		{name: "interrupted", err: fmt.Errorf("flash sale interrupted: %w", context.Canceled), want: ExitCannot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Code(tt.err); got != tt.want {
				t.Errorf("Code(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestFailureKeepsItsMessage(t *testing.T) {
	violated := Failure("invariants violated")
	err := fmt.Errorf("%w: 2", violated)
	if got, want := err.Error(), "invariants violated: 2"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, violated) || !errors.Is(err, ErrFailed) {
		t.Errorf("%v is not both its own sentinel and ErrFailed", err)
	}
	if errors.Is(err, Failure("invariants violated")) {
		t.Errorf("%v is another Failure of the same words: sentinels must be told apart", err)
	}
}

func TestParse(t *testing.T) {
	const help = "tool sub -h"
	tests := []struct {
		name  string
		args  []string
		help  bool   // want flag.ErrHelp
		usage string // want a UsageError saying this; empty with help false wants nil
		n     int    // want n parsed, when the args parse
	}{
		{name: "flags", args: []string{"--n", "3"}, n: 3},
		{name: "none", n: 1},
		{name: "help", args: []string{"-h"}, help: true},
		{name: "long help", args: []string{"--help"}, help: true},
		{name: "unknown flag", args: []string{"--admin"}, usage: "flag provided but not defined: -admin"},
		{name: "bad value", args: []string{"--n", "many"}, usage: `invalid value "many" for flag -n`},
		{name: "stray argument", args: []string{"--n", "2", "now"}, usage: `unexpected argument "now"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("sub", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			n := fs.Int("n", 1, "a number")
			err := Parse(fs, tt.args, help)
			var ue UsageError
			switch {
			case tt.help:
				if !errors.Is(err, flag.ErrHelp) || errors.As(err, &ue) {
					t.Errorf("Parse(%q) = %v, want flag.ErrHelp alone", tt.args, err)
				}
			case tt.usage != "":
				if !errors.As(err, &ue) || ue.Help != help || !strings.Contains(err.Error(), tt.usage) {
					t.Errorf("Parse(%q) = %#v, want a UsageError saying %q with help %q", tt.args, err, tt.usage, help)
				}
			default:
				if err != nil {
					t.Fatalf("Parse(%q) = %v", tt.args, err)
				}
				if *n != tt.n {
					t.Errorf("Parse(%q): n = %d, want %d", tt.args, *n, tt.n)
				}
			}
		})
	}
}

func TestReport(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		code   int
		stderr string
	}{
		{name: "success", code: ExitOK},
		{name: "failed", err: fmt.Errorf("%w: 2", Failure("invariants violated")), code: ExitFailed,
			stderr: "loadtest: invariants violated: 2\n"},
		{name: "usage", err: UsageError{Err: errors.New("no subcommand"), Help: "loadtest help"}, code: ExitUsage,
			stderr: "loadtest: no subcommand\nrun 'loadtest help' for usage\n"},
		{name: "cannot run", err: errors.New("create item: connection refused"), code: ExitCannot,
			stderr: "loadtest: create item: connection refused\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if got := report(&stderr, "loadtest", tt.err); got != tt.code {
				t.Errorf("report(%v) = %d, want %d", tt.err, got, tt.code)
			}
			if got := stderr.String(); got != tt.stderr {
				t.Errorf("report(%v) wrote %q, want %q", tt.err, got, tt.stderr)
			}
		})
	}
}

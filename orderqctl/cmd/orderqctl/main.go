// Command orderqctl is the operator's tool for an orderq deployment. It reads
// the same environment variables as the programs it works with.
//
//	orderqctl token --sub alice [--ttl 24h]   print a customer token
//	orderqctl audit [--older 1m] [--json]     check the books of a live database
//	orderqctl dead-letters list|show|redrive  the dead letters, without the shovel plugin
//	orderqctl shards [change N | resume]      the shard count and its backlog; change it
//	orderqctl help [command]                  what the commands do
//
// Exit status: 0 success, 1 a checked invariant or audit
// failed, 2 usage error, 3 the work could not be run (a setting missing, a
// server unreachable, a credential refused).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/orderq/orderq/shared/cli"
)

// env is what a command runs with: the environment and where its output goes.
type env struct {
	getenv         func(string) string
	stdout, stderr io.Writer
}

// command is one subcommand. A new one (an audit, the dead letters) is a
// row of commands and a function.
type command struct {
	name    string
	usage   string // the command line, as in "token --sub ID [--ttl 24h]"
	summary string // one line for orderqctl help
	about   string // what orderqctl help <name> prints above the flags
	// flags declares the command's flags on fs and returns what runs it, with
	// the arguments that are not flags (wherever the flags stand among them).
	flags func(fs *flag.FlagSet) func(ctx context.Context, e env, args []string) error
}

// commands is every subcommand, in the order help lists them.
var commands = []command{tokenCommand, auditCommand, deadLettersCommand, shardsCommand}

func main() {
	cli.Main("orderqctl", func(ctx context.Context) error {
		return run(ctx, os.Args[1:], env{getenv: os.Getenv, stdout: os.Stdout, stderr: os.Stderr})
	})
}

func run(ctx context.Context, args []string, e env) error {
	if len(args) == 0 {
		return cli.UsageError{Err: errors.New("no command"), Help: "orderqctl help"}
	}
	switch name := args[0]; name {
	case "help", "-h", "-help", "--help":
		return help(args[1:], e.stdout)
	default:
		c, ok := lookup(name)
		if !ok {
			return cli.UsageError{Err: fmt.Errorf("unknown command %q", name), Help: "orderqctl help"}
		}
		fs := newFlagSet(c)
		exec := c.flags(fs)
		rest, err := parseArgs(fs, args[1:], "orderqctl help "+c.name)
		if errors.Is(err, flag.ErrHelp) {
			printHelp(e.stdout, c)
			return nil
		}
		if err != nil {
			return err
		}
		return exec(ctx, e, rest)
	}
}

// parseArgs parses the flags wherever they stand among args, and returns
// the other arguments in order.
func parseArgs(fs *flag.FlagSet, args []string, help string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, cli.UsageError{Err: err, Help: help}
		}
		if fs.NArg() == 0 {
			return rest, nil
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// noArgs refuses arguments that are not flags, for a command that takes none.
func noArgs(name string, args []string) error {
	if len(args) > 0 {
		return cli.UsageError{Err: fmt.Errorf("unexpected argument %q", args[0]), Help: "orderqctl help " + name}
	}
	return nil
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func newFlagSet(c command) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run reports errors and usage itself
	return fs
}

// help prints the list of commands, or one command's usage.
func help(args []string, w io.Writer) error {
	if len(args) == 0 {
		var b strings.Builder
		b.WriteString("orderqctl is the operator's tool for an orderq deployment.\n\nUsage:\n\n")
		for _, c := range commands {
			fmt.Fprintf(&b, "\torderqctl %-36s %s\n", c.usage, c.summary)
		}
		b.WriteString("\torderqctl help [command]                 what a command does, and its flags\n")
		b.WriteString("\nExit status: 0 success, 1 an audit failed, 2 usage error, 3 the work could not\nbe run (a setting missing, a server unreachable, a credential refused).\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	c, ok := lookup(args[0])
	if !ok {
		return cli.UsageError{Err: fmt.Errorf("unknown command %q", args[0]), Help: "orderqctl help"}
	}
	printHelp(w, c)
	return nil
}

// printHelp writes a command's usage: what it does, then its flags.
func printHelp(w io.Writer, c command) {
	fmt.Fprintf(w, "Usage: orderqctl %s\n\n%s\nFlags:\n", c.usage, c.about)
	fs := newFlagSet(c)
	c.flags(fs)
	fs.SetOutput(w)
	fs.PrintDefaults()
}

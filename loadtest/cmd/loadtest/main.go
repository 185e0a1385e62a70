// Command loadtest drives a running orderq gateway like a flash-sale crowd and
// checks afterwards that the sale kept orderq's promises: stock never below zero,
// confirmed = min(stock, demand), every accepted order final, the ledger balanced.
//
// Exit status: 0 when every invariant holds, 1 when one is violated, 2 for a
// usage error, 3 when the sale could not be run or observed (gateway
// unreachable, admin token refused, database unreachable, interrupted).
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
	"time"

	"github.com/orderq/orderq/loadtest/internal/check"
	"github.com/orderq/orderq/loadtest/internal/crowd"
	"github.com/orderq/orderq/loadtest/internal/ledger"
	"github.com/orderq/orderq/loadtest/internal/report"
)

// Exit statuses.
const (
	exitPassed   = 0
	exitViolated = 1
	exitUsage    = 2
	exitFailed   = 3
)

// Defaults from CONTRACT.md.
const (
	defaultURL      = "http://127.0.0.1:8080"
	defaultMySQLDSN = "root:@tcp(127.0.0.1:3306)/orderq?parseTime=true&charset=utf8mb4"
)

// errViolated means the sale ran and broke an invariant; the report says which.
var errViolated = errors.New("invariants violated")

// usageError is a command line that names no sale loadtest can run; help is
// the command line that explains it.
type usageError struct {
	err  error
	help string
}

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadtest: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "run '%s' for usage\n", ue.help)
		}
	}
	os.Exit(exitCode(err))
}

func exitCode(err error) int {
	switch {
	case err == nil:
		return exitPassed
	case errors.Is(err, errViolated):
		return exitViolated
	case errors.As(err, new(usageError)):
		return exitUsage
	default:
		return exitFailed
	}
}

const usage = `loadtest drives a running orderq gateway like a flash-sale crowd and checks
the invariants afterwards.

Usage:

	loadtest flashsale [flags]    sell one new item to a crowd; -h lists the flags

Exit status: 0 every invariant holds, 1 an invariant is violated, 2 usage error,
3 the sale could not be run (gateway or database unreachable, token refused).
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{errors.New("no subcommand"), "loadtest help"}
	}
	switch args[0] {
	case "flashsale":
		return flashsale(ctx, args[1:], os.Getenv, stdout, stderr)
	case "help", "-h", "-help", "--help":
		_, err := io.WriteString(stdout, usage)
		return err
	default:
		return usageError{fmt.Errorf("unknown subcommand %q", args[0]), "loadtest help"}
	}
}

const flashsaleHelp = "loadtest flashsale -h"

// config is one flashsale invocation.
type config struct {
	crowd    crowd.Config
	mysqlDSN string // empty skips the ledger check
	json     bool
}

// loadConfig reads the flashsale flags; a flag left out falls back to its
// environment variable, then to its default. Help is a *flag.FlagSet error
// (flag.ErrHelp); any other error is a usage error.
func loadConfig(args []string, getenv func(string) string) (config, *flag.FlagSet, error) {
	var c config
	fs := flag.NewFlagSet("flashsale", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run reports errors and usage itself
	fs.StringVar(&c.crowd.URL, "url", defaultURL, "the gateway `URL` (env ORDERQ_URL)")
	fs.StringVar(&c.crowd.AdminToken, "admin-token", "", "`token` for creating the item (env ADMIN_TOKEN)")
	fs.Int64Var(&c.crowd.Stock, "stock", 100, "initial stock of the item")
	fs.IntVar(&c.crowd.Orders, "orders", 2000, "orders to send")
	fs.IntVar(&c.crowd.Concurrency, "concurrency", 200, "customers ordering at the same time")
	fs.IntVar(&c.crowd.Quantity, "quantity", 1, "quantity of each order")
	fs.IntVar(&c.crowd.Customers, "customers", 0, "distinct customer ids (0: one per order)")
	fs.IntVar(&c.crowd.MaxPerCustomer, "max-per-customer", 0, "the item's limit per customer (0: none)")
	fs.IntVar(&c.crowd.Wait, "wait", 5, "`seconds` of Prefer: wait on orders and of long-polls")
	fs.DurationVar(&c.crowd.Timeout, "timeout", 2*time.Minute, "deadline for every order to be final")
	fs.StringVar(&c.mysqlDSN, "mysql-dsn", defaultMySQLDSN, "`DSN` of orderq's database, read only for the ledger check; empty skips it (env MYSQL_DSN)")
	fs.BoolVar(&c.json, "json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, fs, err
		}
		return c, fs, usageError{err, flashsaleHelp}
	}
	if fs.NArg() > 0 {
		return c, fs, usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0)), flashsaleHelp}
	}

	// Environment defaults are applied after parsing so that -h never prints a
	// secret, and an explicit --mysql-dsn="" still wins over MYSQL_DSN.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for name, key := range map[string]string{"url": "ORDERQ_URL", "admin-token": "ADMIN_TOKEN", "mysql-dsn": "MYSQL_DSN"} {
		if v := getenv(key); v != "" && !set[name] {
			fs.Set(name, v)
		}
	}
	if err := c.crowd.Validate(); err != nil {
		return c, fs, usageError{err, flashsaleHelp}
	}
	return c, fs, nil
}

func flashsale(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, fs, err := loadConfig(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stdout, "Usage: loadtest flashsale [flags]\n\nFlags:\n")
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return nil
	}
	if err != nil {
		return err
	}

	// Reach the database before the sale, so a wrong DSN costs seconds, not a run.
	var lr *ledger.Reader
	if cfg.mysqlDSN != "" {
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		lr, err = ledger.Open(octx, cfg.mysqlDSN)
		cancel()
		if err != nil {
			return fmt.Errorf("%w (--mysql-dsn= skips the ledger check)", err)
		}
		defer lr.Close()
	}

	fmt.Fprintf(stderr, "loadtest: %d orders of quantity %d, %d at once, for stock %d at %s\n",
		cfg.crowd.Orders, cfg.crowd.Quantity, cfg.crowd.Concurrency, cfg.crowd.Stock, cfg.crowd.URL)
	res, err := crowd.Run(ctx, cfg.crowd)
	if err != nil {
		return err
	}

	in := report.Input{Result: res, LedgerNote: "--mysql-dsn is empty"}
	var ledgerErr error
	if lr != nil {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		l, err := lr.Read(rctx, res.Item.ID)
		cancel()
		if err != nil {
			ledgerErr, in.LedgerNote = err, err.Error()
		} else {
			in.Ledger = &l
		}
	}
	in.Violations = check.Verify(res.Record(in.Ledger))

	s := report.Build(in)
	write := s.WriteText
	if cfg.json {
		write = s.WriteJSON
	}
	if err := write(stdout); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if n := len(in.Violations); n > 0 {
		return fmt.Errorf("%w: %d", errViolated, n)
	}
	// The invariants that could be checked hold, but the ledger could not be
	// read: the run is not proven, so it must not pass.
	return ledgerErr
}

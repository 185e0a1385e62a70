// Command loadtest drives a running orderq gateway like a flash-sale crowd and
// checks afterwards that the sale kept orderq's promises: stock never below zero,
// confirmed = min(stock, demand), every accepted order final, the ledger balanced.
//
//	loadtest flashsale    one item, a crowd (closed loop, or open loop at --rate)
//	loadtest catalogue    many items, Zipf-skewed demand, the same checks per item
//	loadtest carts        multi-item orders, all or nothing: nothing leaked or
//	                      oversold once the rejected carts' releases settled
//	loadtest compare      the same crowd against naive, SELECT … FOR UPDATE,
//	                      atomic-UPDATE and Redis yardsticks, and orderq, in
//	                      one table; --kill-redis-after crashes Redis midway
//	loadtest soak         flash sales back to back on one database: a row a
//	                      sale, with the size of the store after it
//
// Exit status: 0 when every invariant holds, 1 when one is violated, 2 for a
// usage error, 3 when the sale could not be run or observed (gateway
// unreachable, the admin token or the buyers' credentials refused, database
// unreachable, interrupted).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/redis/go-redis/v9/logging"

	"github.com/orderq/orderq/shared/cli"
)

// Defaults, as the README's Configuration lists them.
const (
	defaultURL      = "http://127.0.0.1:8080"
	defaultMySQLDSN = "root:@tcp(127.0.0.1:3306)/orderq?parseTime=true&charset=utf8mb4"
)

// errViolated means the sale ran and broke an invariant; the report says which.
var errViolated = cli.Failure("invariants violated")

func main() {
	// go-redis logs to stderr by itself, a line for every dial that fails
	// while compare's Redis is down; the crowd counts those answers already.
	logging.Disable()
	cli.Main("loadtest", func(ctx context.Context) error {
		return run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	})
}

const usage = `loadtest drives a running orderq gateway like a crowd of buyers and checks
the invariants afterwards: stock never below zero, confirmed = min(stock,
demand), every accepted order final, the stock ledger balanced.

Usage:

	loadtest flashsale [flags]    sell one new item to a crowd
	loadtest catalogue [flags]    sell many new items (default 10000) with a
	                              Zipf-skewed demand, checked item by item
	loadtest carts [flags]        sell a few new items (default 5) in carts of
	                              1 to --max-lines items, all or nothing; waits
	                              until rejected carts gave their units back,
	                              then checks no unit leaked or was oversold
	loadtest compare [flags]      run one crowd against a naive read-modify-write
	                              service, SELECT … FOR UPDATE, an atomic
	                              conditional UPDATE, stock pre-deducted in
	                              Redis, and orderq; one table, with what each
	                              lost (--kill-redis-after crashes Redis midway)
	loadtest soak [flags]         run flash sales back to back (default 10 of
	                              30s at 10000 orders/s) on one stack and one
	                              database; after each, a row: throughput,
	                              latency, invariants, and the rows and bytes
	                              of the store, to show its cost as it grows

Run 'loadtest <command> -h' for the flags. Every command prints a table, or JSON
with --json; --report out.html writes charts for a post-mortem; on a terminal a
progress line shows the crowd as it goes.

Exit status: 0 every invariant holds, 1 an invariant is violated, 2 usage error,
3 the sale could not be run (gateway or database unreachable, a credential
refused).

The buyers authenticate as the gateway expects (--auth): with a customer token
each, minted from CUSTOMER_JWT_SECRET; or through a storefront's X-API-Key
(STOREFRONT_API_KEY, or the first of STOREFRONT_API_KEYS); the admin token
(ADMIN_TOKEN) creates the items.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return cli.UsageError{Err: errors.New("no subcommand"), Help: "loadtest help"}
	}
	tty := isTerminal(stderr)
	switch args[0] {
	case "flashsale", "catalogue":
		return sale(ctx, args[0], args[1:], os.Getenv, stdout, stderr, tty)
	case "carts":
		return carts(ctx, args[1:], os.Getenv, stdout, stderr, tty)
	case "compare":
		return compare(ctx, args[1:], os.Getenv, stdout, stderr, tty)
	case "soak":
		return soak(ctx, args[1:], os.Getenv, stdout, stderr, tty)
	case "help", "-h", "-help", "--help":
		_, err := io.WriteString(stdout, usage)
		return err
	default:
		return cli.UsageError{Err: fmt.Errorf("unknown subcommand %q", args[0]), Help: "loadtest help"}
	}
}

// applyEnv gives the flags left out their environment variable, after parsing
// so that -h never prints a secret, and an explicit --mysql-dsn="" still wins
// over MYSQL_DSN. It returns the variables it applied, and the flag each set.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) (applied map[string]string) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	applied = map[string]string{}
	for name, key := range map[string]string{"url": "ORDERQ_URL", "admin-token": "ADMIN_TOKEN", "mysql-dsn": "MYSQL_DSN",
		"jwt-secret": "CUSTOMER_JWT_SECRET", "api-key": "STOREFRONT_API_KEY"} {
		if v := getenv(key); v != "" && !set[name] && fs.Lookup(name) != nil {
			fs.Set(name, v)
			applied[key] = name
		}
	}
	return applied
}

// printHelp writes a subcommand's usage: what it does, then its flags.
func printHelp(w io.Writer, fs *flag.FlagSet, about string) {
	fmt.Fprint(w, about)
	fmt.Fprintf(w, "\nFlags:\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
}

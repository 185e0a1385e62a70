package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/orderq/orderq/loadtest/internal/check"
	"github.com/orderq/orderq/loadtest/internal/crowd"
	"github.com/orderq/orderq/loadtest/internal/ledger"
	"github.com/orderq/orderq/loadtest/internal/report"
	"github.com/orderq/orderq/shared/cli"
)

const cartsHelp = "loadtest carts -h"

const cartsAbout = `Usage: loadtest carts [flags]

Creates --items items of --stock units each, then sends --orders carts, with
--concurrency customers ordering at once (closed loop; --rate and --duration
run it open-loop, as for flashsale). Each cart has 1 to --max-lines lines for
distinct items drawn at random (repeatably with --seed), of 1 to 3 units each.
orderq confirms a cart only if every line gets its stock; otherwise it rejects
it and gives back what its other lines reserved, later, through the items'
queues.

Every accepted cart is followed until final. Then loadtest waits, at most
--settle, until the system has settled (no order of the run's items pending,
the outbox empty, no line of a rejected or canceled order holding stock), reads
the stocks again, and checks: every accepted cart final and one of its own; a
confirmed cart answered with every line reserved, a rejected one with the
reason of a line that failed; per item, stock never below zero, no more
confirmed than there was, and the final stock what the confirmed carts left;
and from the database, per item, units reserved by confirmed orders + stock =
initial stock (no unit leaked or oversold), the ledger balanced, and no
confirmed order with a line that is not reserved.

With --mysql-dsn= the database is not read: the stocks are read through the
gateway until they add up, at most --settle, and only the gateway's answers
are checked.
`

// cartsConfig is one carts invocation.
type cartsConfig struct {
	crowd    crowd.Config
	mysqlDSN string // empty checks the gateway's answers only
	settle   time.Duration
	output
}

func loadCartsConfig(args []string, getenv func(string) string) (cartsConfig, *flag.FlagSet, error) {
	var c cartsConfig
	fs := flag.NewFlagSet("carts", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.crowd.URL, "url", defaultURL, "the gateway `URL` (env ORDERQ_URL)")
	fs.StringVar(&c.crowd.AdminToken, "admin-token", "", "`token` for creating items (env ADMIN_TOKEN)")
	var auth authFlags
	auth.register(fs)
	fs.StringVar(&c.mysqlDSN, "mysql-dsn", defaultMySQLDSN, "`DSN` of orderq's database, read only, to wait until the system settled and check what it holds; empty checks the gateway's answers only (env MYSQL_DSN)")
	fs.IntVar(&c.crowd.Items, "items", 5, "items on sale, each with --stock")
	fs.Int64Var(&c.crowd.Stock, "stock", 100, "initial stock of each item")
	fs.IntVar(&c.crowd.MaxLines, "max-lines", 3, fmt.Sprintf("most lines of a cart (1…%d, at most --items); each cart has 1 to max-lines", crowd.MaxCartLines))
	fs.Func("seed", "`seed` of the carts' items and quantities, to repeat a run (default random)", func(v string) error {
		_, err := fmt.Sscan(v, &c.crowd.Seed)
		return err
	})
	fs.IntVar(&c.crowd.Orders, "orders", 2000, "carts to send (closed loop)")
	fs.IntVar(&c.crowd.Concurrency, "concurrency", 200, "customers ordering at the same time; with --rate, the most carts in flight")
	fs.Float64Var(&c.crowd.Rate, "rate", 0, "open loop: carts started per `second`, evenly spread (needs --duration)")
	fs.DurationVar(&c.crowd.Duration, "duration", 0, "open loop: how long carts are started (needs --rate)")
	fs.IntVar(&c.crowd.Customers, "customers", 0, "distinct customer ids (0: one per cart)")
	fs.IntVar(&c.crowd.Wait, "wait", 5, "`seconds` of Prefer: wait on carts and of long-polls")
	fs.DurationVar(&c.crowd.Timeout, "timeout", 2*time.Minute, "deadline for every cart to be final (with --rate: after the schedule)")
	fs.DurationVar(&c.settle, "settle", 30*time.Second, "most time to wait, once every cart is final, for the releases of rejected carts")
	fs.BoolVar(&c.json, "json", false, "print the report as JSON")
	fs.StringVar(&c.report, "report", "", "also write an HTML report with charts to `file` (e.g. out.html)")
	if err := cli.Parse(fs, args, cartsHelp); err != nil {
		return c, fs, err
	}
	applied := applyEnv(fs, getenv)
	if err := auth.apply(fs, getenv, &c.crowd, cartsHelp); err != nil {
		return c, fs, err
	}
	if c.crowd.MaxLines < 1 {
		return c, fs, cli.UsageError{Err: fmt.Errorf("max-lines must be within 1…%d", crowd.MaxCartLines), Help: cartsHelp}
	}
	if c.crowd.Items < 1 {
		return c, fs, cli.UsageError{Err: errors.New("items must be 1 or more"), Help: cartsHelp}
	}
	if c.settle <= 0 {
		return c, fs, cli.UsageError{Err: errors.New("settle must be positive"), Help: cartsHelp}
	}
	if err := c.crowd.Validate(); err != nil {
		return c, fs, cli.UsageError{Err: err, Help: cartsHelp}
	}
	c.header = newHeader("loadtest carts", fs, args, applied, getenv)
	return c, fs, nil
}

// carts runs the carts subcommand.
func carts(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, tty bool) error {
	cfg, fs, err := loadCartsConfig(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stdout, fs, cartsAbout)
		return nil
	}
	if err != nil {
		return err
	}

	lr, err := openLedger(ctx, cfg.mysqlDSN, "--mysql-dsn= checks the gateway's answers only")
	if err != nil {
		return err
	}
	if lr != nil {
		defer lr.Close()
	}

	c := cfg.crowd
	what := fmt.Sprintf("%d carts, %d at once,", c.Orders, c.Concurrency)
	if c.OpenLoop() {
		what = fmt.Sprintf("%g carts/s for %s, at most %d in flight,", c.Rate, c.Duration, c.Concurrency)
	}
	fmt.Fprintf(stderr, "loadtest: %s of 1–%d lines over %d items of stock %d at %s\n", what, c.MaxLines, c.Items, c.Stock, c.URL)
	fmt.Fprintf(stderr, "loadtest: %s\n", authNote(c))
	cfg.header.Target = describeTarget(ctx, c.URL)
	res, err := runCrowd(ctx, cfg.crowd, cfg.output, stderr, tty, "carts", cfg.crowd.Items)
	if err != nil {
		return err
	}
	in, ledgerErr, err := verifyCarts(ctx, res, lr, cfg.settle)
	if err != nil {
		return err
	}
	return cfg.output.write(stdout, stderr, "loadtest carts", in, ledgerErr)
}

// restockPoll is how often the stocks are read again while waiting for them to
// add up without the database.
const restockPoll = 100 * time.Millisecond

// verifyCarts waits until the system settled, reads the items' stocks again,
// and checks every invariant of a run of carts. With lr it waits on the
// database and checks what it holds; a database that cannot be read is
// returned as ledgerErr and noted, and the rest is checked as without it:
// the stocks are read through the gateway until they add up, at most settle.
// err is a run that could not be observed: the gateway's stocks unreadable,
// or ctx ended.
func verifyCarts(ctx context.Context, res *crowd.Result, lr *ledger.Reader, settle time.Duration) (in report.Input, ledgerErr, err error) {
	in = report.Input{Result: res, LedgerNote: "--mysql-dsn is empty"}
	ids := make([]int64, len(res.Items))
	for i, it := range res.Items {
		ids[i] = it.ID
	}
	var db *ledger.Carts
	if lr != nil {
		c, err := lr.WaitSettled(ctx, ids, settle)
		switch {
		case ctx.Err() != nil:
			return in, nil, fmt.Errorf("wait for the system to settle: %w", ctx.Err())
		case err != nil:
			ledgerErr, in.LedgerNote = err, err.Error()
		default:
			db = &c
			in.Ledgers, in.Held, in.Audit, in.LedgerNote = c.Ledgers, c.Held, &c.Audit, ""
		}
	}

	deadline := time.Now().Add(settle)
	for {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := res.ReadStocks(rctx)
		cancel()
		if err != nil {
			return in, ledgerErr, err
		}
		run := check.CartRun{Items: res.Records(in.Ledgers), Carts: res.Carts(), Audit: in.Audit}
		if db != nil {
			for i := range run.Items {
				held := db.Held[run.Items[i].Item]
				run.Items[i].Held = &held
			}
		}
		in.Violations = check.VerifyCarts(run)
		// Settled in the database, the stocks are final at once; without it
		// they are final once they add up, or when waiting is over.
		unsettled := slices.ContainsFunc(in.Violations, func(v check.Violation) bool { return v.Rule == check.RuleStockMismatch })
		if db != nil || !unsettled || !time.Now().Before(deadline) {
			return in, ledgerErr, nil
		}
		if !crowd.Sleep(ctx, restockPoll) {
			return in, ledgerErr, fmt.Errorf("wait for the stocks to add up: %w", ctx.Err())
		}
	}
}

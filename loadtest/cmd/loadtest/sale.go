package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/orderq/orderq/loadtest/internal/check"
	"github.com/orderq/orderq/loadtest/internal/crowd"
	"github.com/orderq/orderq/loadtest/internal/ledger"
	"github.com/orderq/orderq/loadtest/internal/report"
	"github.com/orderq/orderq/shared/cli"
)

// stockEvery is how often a run with --report samples the stock it charts.
const stockEvery = 100 * time.Millisecond

// config is one flashsale or catalogue invocation.
type config struct {
	crowd    crowd.Config
	mysqlDSN string // empty skips the ledger check
	output
}

// output is where a run's report goes, and the header it starts with.
type output struct {
	json   bool   // JSON on stdout instead of text
	report string // path of the HTML report; empty writes none
	header *report.Header
}

const flashsaleAbout = `Usage: loadtest flashsale [flags]

Creates one item with --stock units and sends --orders orders for it, with
--concurrency customers ordering at once (closed loop: a customer orders again
once their order is final). With --rate and --duration the crowd runs open-loop
instead: --rate orders a second are started on a fixed schedule for --duration,
whatever the answers, with --concurrency as the cap on orders in flight; an
order due while the cap is reached is not sent and counts as slipped, so the
report says when the rate could not be kept. --orders is ignored then.

Every accepted order is followed until final, then the invariants are checked
(and the item's stock ledger, unless --mysql-dsn=).
`

const catalogueAbout = `Usage: loadtest catalogue [flags]

Creates --items items of --stock units each through the API, then sends --orders
orders whose item is drawn from a Zipf distribution (the k-th item created is
chosen with probability ∝ 1/(1+k)^s): a few items sell out at once, most see a
few orders. Every invariant is checked for every item, and the ledgers of all
items are read in a few grouped queries. --rate and --duration run it
open-loop, as for flashsale.
`

// loadConfig reads the flags of flashsale or catalogue (name); a flag left
// out falls back to its environment variable, then to its default. Help is a
// *flag.FlagSet error (flag.ErrHelp); any other error is a usage error.
func loadConfig(name string, args []string, getenv func(string) string) (config, *flag.FlagSet, error) {
	var c config
	help := "loadtest " + name + " -h"
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run reports errors and usage itself
	stock, orders := int64(100), 2000
	if name == "catalogue" {
		fs.IntVar(&c.crowd.Items, "items", 10000, "items on sale, each with --stock")
		fs.Float64Var(&c.crowd.ZipfS, "zipf-s", crowd.DefaultZipfS, "skew `s` (> 1) of the demand over the items: larger is more skewed")
		fs.Func("seed", "`seed` of the item choice, to repeat a run (default random)", func(v string) error {
			_, err := fmt.Sscan(v, &c.crowd.Seed)
			return err
		})
		stock, orders = 10, 20000
	}
	fs.StringVar(&c.crowd.URL, "url", defaultURL, "the gateway `URL` (env ORDERQ_URL)")
	fs.StringVar(&c.crowd.AdminToken, "admin-token", "", "`token` for creating items (env ADMIN_TOKEN)")
	var auth authFlags
	auth.register(fs)
	fs.Int64Var(&c.crowd.Stock, "stock", stock, "initial stock of each item")
	fs.IntVar(&c.crowd.Orders, "orders", orders, "orders to send (closed loop)")
	fs.IntVar(&c.crowd.Concurrency, "concurrency", 200, "customers ordering at the same time; with --rate, the most orders in flight")
	fs.Float64Var(&c.crowd.Rate, "rate", 0, "open loop: orders started per `second`, evenly spread (needs --duration)")
	fs.DurationVar(&c.crowd.Duration, "duration", 0, "open loop: how long orders are started (needs --rate)")
	fs.IntVar(&c.crowd.Quantity, "quantity", 1, "quantity of each order")
	fs.IntVar(&c.crowd.Customers, "customers", 0, "distinct customer ids (0: one per order)")
	fs.IntVar(&c.crowd.MaxPerCustomer, "max-per-customer", 0, "the items' limit per customer (0: none)")
	fs.IntVar(&c.crowd.Wait, "wait", 5, "`seconds` of Prefer: wait on orders and of long-polls")
	fs.BoolVar(&c.crowd.Poll, "poll", false, "send orders without Prefer: wait and follow them with long-polls of --wait seconds, so each is answered at the broker's confirm (without it, accept is when the waiting answer's Server-Timing says the order was accepted)")
	fs.DurationVar(&c.crowd.Timeout, "timeout", 2*time.Minute, "deadline for every order to be final (with --rate: after the schedule)")
	fs.StringVar(&c.mysqlDSN, "mysql-dsn", defaultMySQLDSN, "`DSN` of orderq's database, read only for the ledger check; empty skips it (env MYSQL_DSN)")
	fs.BoolVar(&c.json, "json", false, "print the report as JSON")
	fs.StringVar(&c.report, "report", "", "also write an HTML report with charts to `file` (e.g. out.html)")
	if err := cli.Parse(fs, args, help); err != nil {
		return c, fs, err
	}
	applied := applyEnv(fs, getenv)
	if err := auth.apply(fs, getenv, &c.crowd, help); err != nil {
		return c, fs, err
	}
	if name == "catalogue" && c.crowd.Items < 2 {
		return c, fs, cli.UsageError{Err: errors.New("items must be 2 or more (one item is a flashsale)"), Help: help}
	}
	if err := c.crowd.Validate(); err != nil {
		return c, fs, cli.UsageError{Err: err, Help: help}
	}
	c.header = newHeader("loadtest "+name, fs, args, applied, getenv)
	return c, fs, nil
}

// sale runs flashsale or catalogue.
func sale(ctx context.Context, name string, args []string, getenv func(string) string, stdout, stderr io.Writer, tty bool) error {
	cfg, fs, err := loadConfig(name, args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		about := flashsaleAbout
		if name == "catalogue" {
			about = catalogueAbout
		}
		printHelp(stdout, fs, about)
		return nil
	}
	if err != nil {
		return err
	}

	lr, err := openLedger(ctx, cfg.mysqlDSN, "--mysql-dsn= skips the ledger check")
	if err != nil {
		return err
	}
	if lr != nil {
		defer lr.Close()
	}

	c := cfg.crowd
	if name == "catalogue" {
		fmt.Fprintf(stderr, "loadtest: %s over %d items of stock %d (Zipf s %g) at %s\n", crowdLine(c), c.Items, c.Stock, c.ZipfS, c.URL)
	} else {
		fmt.Fprintf(stderr, "loadtest: %s for stock %d at %s\n", crowdLine(c), c.Stock, c.URL)
	}
	fmt.Fprintf(stderr, "loadtest: %s\n", authNote(c))
	cfg.header.Target = describeTarget(ctx, c.URL)
	in, ledgerErr, err := checkedSale(ctx, cfg.crowd, cfg.output, lr, "--mysql-dsn is empty", stderr, tty, name)
	if err != nil {
		return err
	}
	return cfg.output.write(stdout, stderr, "loadtest "+name, in, ledgerErr)
}

// crowdLine says how the crowd of c orders, for the line a run starts with.
func crowdLine(c crowd.Config) string {
	if c.OpenLoop() {
		return fmt.Sprintf("%g orders/s of quantity %d for %s, at most %d in flight,", c.Rate, c.Quantity, c.Duration, c.Concurrency)
	}
	return fmt.Sprintf("%d orders of quantity %d, %d at once,", c.Orders, c.Quantity, c.Concurrency)
}

// checkedSale runs one sale of c, as flashsale, catalogue, compare and soak
// do, with a progress line labelled label, and checks it: the invariants,
// and the items' ledgers when lr is set (note says why not when it is nil).
// err is a sale that could not be run or observed; ledgerErr is verify's.
func checkedSale(ctx context.Context, c crowd.Config, out output, lr *ledger.Reader, note string,
	stderr io.Writer, tty bool, label string) (in report.Input, ledgerErr, err error) {
	res, err := runCrowd(ctx, c, out, stderr, tty, label, max(c.Items, 1))
	if err != nil {
		return in, nil, err
	}
	in, ledgerErr = verify(ctx, res, lr, note)
	return in, ledgerErr, nil
}

// runCrowd runs c with a progress line labelled label (of c.Progress, when
// the caller watches it too), sampling the stock when out has an HTML report
// to chart it in.
func runCrowd(ctx context.Context, c crowd.Config, out output, stderr io.Writer, tty bool, label string, items int) (*crowd.Result, error) {
	if out.report != "" {
		c.StockEvery = stockEvery
	}
	if c.Progress == nil {
		c.Progress = &crowd.Progress{}
	}
	stop := startProgress(stderr, tty, label, c.Progress, items)
	defer stop()
	return crowd.Run(ctx, c)
}

// write writes the report of a checked run, and returns its verdict: the
// invariants violated, else ledgerErr (the invariants that could be checked
// hold, but the database could not be read: the run is not proven, so it must
// not pass).
func (out output) write(stdout, stderr io.Writer, title string, in report.Input, ledgerErr error) error {
	s := report.Build(in)
	s.Header = out.finished()
	write := s.WriteText
	if out.json {
		write = s.WriteJSON
	}
	if err := write(stdout); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := out.writeHTML(stderr, report.Page{Title: title, Header: s.Header, Summary: &s}); err != nil {
		return err
	}
	if n := len(in.Violations); n > 0 {
		return fmt.Errorf("%w: %d", errViolated, n)
	}
	return ledgerErr
}

// verify reads the ledgers of res's items when lr is set, and checks every
// invariant. A ledger that cannot be read is returned as the error, and
// noted in the Input; the other invariants are checked all the same.
func verify(ctx context.Context, res *crowd.Result, lr *ledger.Reader, note string) (report.Input, error) {
	in := report.Input{Result: res, LedgerNote: note}
	var ledgerErr error
	if lr != nil {
		ids := make([]int64, len(res.Items))
		for i, it := range res.Items {
			ids[i] = it.ID
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		var ls map[int64]check.Ledger
		var err error
		if len(ids) == 1 {
			var l check.Ledger
			if l, err = lr.Read(rctx, ids[0]); err == nil {
				ls = map[int64]check.Ledger{ids[0]: l}
			}
		} else {
			ls, err = lr.ReadMany(rctx, ids)
		}
		cancel()
		if err != nil {
			ledgerErr, in.LedgerNote = err, err.Error()
		} else {
			in.Ledgers, in.LedgerNote = ls, ""
		}
	}
	in.Violations = check.VerifyItems(res.Records(in.Ledgers))
	return in, ledgerErr
}

// finished returns the header, its run now finished.
func (out output) finished() *report.Header {
	out.header.Finished = report.UTC(time.Now())
	return out.header
}

// writeHTML writes p to the HTML report's file, when there is one, and says
// so on stderr.
func (out output) writeHTML(stderr io.Writer, p report.Page) error {
	if out.report == "" {
		return nil
	}
	f, err := os.Create(out.report)
	if err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	if err := report.WriteHTML(f, p); err != nil {
		f.Close()
		return fmt.Errorf("write html report %s: %w", out.report, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write html report %s: %w", out.report, err)
	}
	fmt.Fprintf(stderr, "loadtest: report written to %s\n", out.report)
	return nil
}

// openLedger opens the ledger reader of dsn, or returns nil when dsn is empty.
// It is opened before the run, so that a wrong DSN costs seconds, not a run;
// hint says how to do without it.
func openLedger(ctx context.Context, dsn, hint string) (*ledger.Reader, error) {
	if dsn == "" {
		return nil, nil
	}
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	lr, err := ledger.Open(octx, dsn)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, hint)
	}
	return lr, nil
}

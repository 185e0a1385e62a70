package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/orderq/orderq/loadtest/internal/crowd"
	"github.com/orderq/orderq/loadtest/internal/ledger"
	"github.com/orderq/orderq/loadtest/internal/report"
	"github.com/orderq/orderq/shared/cli"
)

const soakHelp = "loadtest soak -h"

// maxSales bounds --sales: a soak longer than a day is a mistake.
const maxSales = 10000

const soakAbout = `Usage: loadtest soak [flags]

Runs --sales flash sales back to back on one running stack and its one
database, to show whether orderq's speed holds as the order history grows.
Each sale is a new item of --stock units, sold as 'flashsale --rate
--duration' sells it: --rate orders a second for --duration, whatever the
answers, at most --concurrency in flight. Nothing is cleaned up between
sales: every order stays in the database, as a shop's history does.

After each sale, once its orders are final and its invariants checked (the
item's ledger included, as flashsale checks them), it prints a row:

  final/s           final orders a second, from the first order sent to the
                    last one final
  slipped           orders due while --concurrency were in flight, not sent
  accept p99        first attempt sent → accepted
  accept→final p99  accepted → final status seen
  invariants        PASS, or FAIL and the violations below the row
  orders            rows of orders after the sale, counted
  store             data_length + index_length of every table of the database
                    (orders, order_lines, stock_movements, payments, …), from
                    information_schema once ANALYZE TABLE refreshed them
  bytes/order       store over orders

and at the end the last sale's throughput in percent of the first's, how the
store grew, and its tables by size. --json prints one document at the end
instead (the table goes to stderr), with every sale's full report; --report
writes the sales' charts one after another to an HTML file.

The database is read before the first sale and between sales, never during
one: counting the orders scans an index of the orders table, and ANALYZE
TABLE, which changes no data, only the optimizer's statistics, needs SELECT
and INSERT on the tables. Start on a fresh database to see the store grow
from empty. --mysql-dsn= skips the ledgers and the store: only the gateway's
answers are checked.

Exit status: 0 every sale kept every invariant, 1 a sale broke one, 3 a sale
could not be run or the database could not be read (the rows so far and the
summary are printed first), 2 a usage error.
`

// soakConfig is one soak invocation: sales sales of crowd, one after another.
type soakConfig struct {
	crowd    crowd.Config
	sales    int
	mysqlDSN string // empty reads neither the ledgers nor the store
	output
}

func loadSoakConfig(args []string, getenv func(string) string) (soakConfig, *flag.FlagSet, error) {
	var c soakConfig
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.crowd.URL, "url", defaultURL, "the gateway `URL` (env ORDERQ_URL)")
	fs.StringVar(&c.crowd.AdminToken, "admin-token", "", "`token` for creating items (env ADMIN_TOKEN)")
	var auth authFlags
	auth.register(fs)
	fs.StringVar(&c.mysqlDSN, "mysql-dsn", defaultMySQLDSN, "`DSN` of orderq's database, read between sales for the ledger check and the store's size; empty skips both (env MYSQL_DSN)")
	fs.IntVar(&c.sales, "sales", 10, fmt.Sprintf("sales to run, one after another (1…%d)", maxSales))
	fs.Int64Var(&c.crowd.Stock, "stock", 1000, "initial stock of each sale's item")
	fs.Float64Var(&c.crowd.Rate, "rate", 10000, "orders started per `second` in each sale, evenly spread")
	fs.DurationVar(&c.crowd.Duration, "duration", 30*time.Second, "how long each sale starts orders")
	fs.IntVar(&c.crowd.Concurrency, "concurrency", 1000, "the most orders in flight")
	fs.IntVar(&c.crowd.Quantity, "quantity", 1, "quantity of each order")
	fs.IntVar(&c.crowd.Wait, "wait", 5, "`seconds` of Prefer: wait on orders and of long-polls")
	fs.DurationVar(&c.crowd.Timeout, "timeout", 2*time.Minute, "deadline for every order of a sale to be final, after its schedule")
	fs.BoolVar(&c.json, "json", false, "print the report as one JSON document at the end (the table goes to stderr)")
	fs.StringVar(&c.report, "report", "", "also write an HTML report to `file` at the end: the sales' charts, one after another")
	if err := cli.Parse(fs, args, soakHelp); err != nil {
		return c, fs, err
	}
	applied := applyEnv(fs, getenv)
	if err := auth.apply(fs, getenv, &c.crowd, soakHelp); err != nil {
		return c, fs, err
	}
	switch {
	case c.sales < 1 || c.sales > maxSales:
		return c, fs, cli.UsageError{Err: fmt.Errorf("sales must be within 1…%d", maxSales), Help: soakHelp}
	case !(c.crowd.Rate > 0):
		return c, fs, cli.UsageError{Err: errors.New("rate must be positive: a soak's sales run open-loop"), Help: soakHelp}
	}
	if err := c.crowd.Validate(); err != nil {
		return c, fs, cli.UsageError{Err: err, Help: soakHelp}
	}
	c.header = newHeader("loadtest soak", fs, args, applied, getenv)
	return c, fs, nil
}

// soak runs the soak subcommand.
func soak(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, tty bool) error {
	cfg, fs, err := loadSoakConfig(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stdout, fs, soakAbout)
		return nil
	}
	if err != nil {
		return err
	}
	lr, err := openLedger(ctx, cfg.mysqlDSN, "--mysql-dsn= skips the ledgers and the store")
	if err != nil {
		return err
	}
	var st sizer
	if lr != nil {
		defer lr.Close()
		st = lr
	}
	return cfg.run(ctx, lr, st, stdout, stderr, tty)
}

// sizer measures orderq's database; a *ledger.Reader does.
type sizer interface {
	Size(ctx context.Context) (ledger.Size, error)
}

// noDatabase is why a soak without --mysql-dsn reads neither ledgers nor
// the store.
const noDatabase = "--mysql-dsn is empty"

// run runs the sales, checking each against the ledgers of lr and measuring
// the store with st after it, unless they are nil. The rows go to stdout as
// each sale ends (to stderr with --json, whose document is written at the
// end). A sale that cannot be run ends the soak; the rows so far and the
// summary are written all the same.
func (cfg soakConfig) run(ctx context.Context, lr *ledger.Reader, st sizer, stdout, stderr io.Writer, tty bool) error {
	c := cfg.crowd
	fmt.Fprintf(stderr, "loadtest: %s, each %s for a new item of stock %d at %s\n", report.CountSales(cfg.sales), crowdLine(c), c.Stock, c.URL)
	fmt.Fprintf(stderr, "loadtest: %s\n", authNote(c))
	cfg.header.Target = describeTarget(ctx, c.URL)
	table := stdout
	if cfg.json {
		table = stderr
	}
	head := report.SoakCrowd{Sales: cfg.sales, TargetPerSecond: c.Rate, DurationSeconds: c.Duration.Seconds(),
		Concurrency: c.Concurrency, Quantity: c.Quantity, Stock: c.Stock, Auth: string(c.Auth)}

	note := ""
	var before *report.Store
	if st == nil {
		note = noDatabase
	} else {
		var err error
		// Found now, not after the first sale.
		if before, err = measure(ctx, st); err != nil {
			return err
		}
	}
	if err := report.WriteSoakHead(table, head, before, note); err != nil {
		return fmt.Errorf("write report: %w", err)
	}

	var sales []report.SoakSale
	var runErr, ledgerErr, storeErr error
	for n := 1; n <= cfg.sales; n++ {
		in, lerr, err := checkedSale(ctx, c, output{}, lr, noDatabase, stderr, tty, fmt.Sprintf("soak %d/%d", n, cfg.sales))
		if err != nil {
			runErr = fmt.Errorf("sale %d of %d: %w", n, cfg.sales, err)
			break
		}
		if ledgerErr == nil && lerr != nil {
			ledgerErr = fmt.Errorf("sale %d: %w", n, lerr)
		}
		var store *report.Store
		storeNote := note
		if st != nil {
			if store, err = measure(ctx, st); err != nil {
				storeNote = err.Error()
				if storeErr == nil {
					storeErr = fmt.Errorf("after sale %d: %w", n, err)
				}
			}
		}
		sale := report.NewSoakSale(n, report.Build(in), store, storeNote)
		sales = append(sales, sale)
		if err := report.WriteSoakRow(table, sale, note); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}

	s := report.NewSoak(head, before, note, sales)
	s.Header = cfg.finished()
	if err := s.WriteEnd(table); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if cfg.json {
		if err := s.WriteJSON(stdout); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	htmlErr := cfg.writeHTML(stderr, report.Page{Title: "loadtest soak", Header: s.Header, Soak: &s})
	var violated error
	if !s.Passed {
		violated = fmt.Errorf("%w in %d of %s", errViolated, len(s.Failed), report.CountSales(len(s.Sales)))
	}
	// A violation is what matters most, and makes the exit status 1.
	return errors.Join(violated, runErr, ledgerErr, storeErr, htmlErr)
}

// measure reads the size of the store from st.
func measure(ctx context.Context, st sizer) (*report.Store, error) {
	mctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	sz, err := st.Size(mctx)
	if err != nil {
		return nil, fmt.Errorf("measure the store: %w", err)
	}
	tables := make([]report.Table, len(sz.Tables))
	for i, t := range sz.Tables {
		tables[i] = report.Table{Name: t.Name, RowsEstimate: t.Rows, DataBytes: t.DataBytes, IndexBytes: t.IndexBytes}
	}
	return report.NewStore(sz.Orders, tables), nil
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/orderq/orderq/loadtest/internal/crowd"
	"github.com/orderq/orderq/loadtest/internal/ledger"
	"github.com/orderq/orderq/loadtest/internal/report"
	"github.com/orderq/orderq/loadtest/internal/yardstick"
	"github.com/orderq/orderq/shared/cli"
)

const compareHelp = "loadtest compare -h"

// orderqStrategy is orderq itself among the strategies: the gateway at --url.
const orderqStrategy = "orderq"

// allStrategies is every strategy, in the order compare runs and lists them.
var allStrategies = append(slices.Clone(yardstick.Strategies), orderqStrategy)

const compareAbout = `Usage: loadtest compare [flags]

Runs the same crowd (--orders orders of --quantity, --concurrency at once, for
one item of --stock) against each strategy in turn and prints one table:
throughput, latency, oversold units and lost updates per strategy, and orderq's
ratio to the best of forupdate and atomic.

  naive      SELECT stock, then UPDATE to the value read minus the quantity, with
             no transaction: the lost-update bug. A pause of --naive-window
             between read and write makes the race show on any machine.
  forupdate  one transaction per order: SELECT … FOR UPDATE, UPDATE, INSERT
  atomic     one conditional UPDATE … WHERE stock >= ? per order, then INSERT
  orderq     the gateway at --url (queue-serialized, batched), its buyers
             authenticated as --auth says; the yardsticks check no credential

naive, forupdate and atomic are yardsticks, not product endpoints: small gin
services started in-process for the comparison, each on its own database
(orderq_compare_<strategy>_<random>) on the server of --mysql-dsn, dropped
afterwards unless --keep. Their violations are reported, that is their point;
the exit status is 1 only when orderq breaks an invariant, or, with
--expect-correct, when any selected strategy does: 'loadtest compare
--strategies naive --expect-correct' exits 1, which proves the checker fails a
broken build.
`

// compareConfig is one compare invocation.
type compareConfig struct {
	crowd         crowd.Config // URL is orderq's; the yardsticks get their own
	mysqlDSN      string
	strategies    []string
	expectCorrect bool
	keep          bool
	pool          int
	window        time.Duration
	output
}

func loadCompareConfig(args []string, getenv func(string) string) (compareConfig, *flag.FlagSet, error) {
	var c compareConfig
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	strategies := strings.Join(allStrategies, ",")
	fs.StringVar(&c.crowd.URL, "url", defaultURL, "orderq's gateway `URL` (env ORDERQ_URL)")
	fs.StringVar(&c.crowd.AdminToken, "admin-token", "", "`token` for creating orderq's item (env ADMIN_TOKEN)")
	var auth authFlags
	auth.register(fs)
	fs.StringVar(&c.mysqlDSN, "mysql-dsn", defaultMySQLDSN, "`DSN` of orderq's database (its ledger is checked when the DSN names one); the yardsticks' databases are created on its server (env MYSQL_DSN)")
	fs.StringVar(&strategies, "strategies", strategies, "comma-separated `list` of the strategies to run: naive, forupdate, atomic, orderq")
	fs.BoolVar(&c.expectCorrect, "expect-correct", false, "exit 1 when any selected strategy breaks an invariant, not only orderq")
	fs.BoolVar(&c.keep, "keep", false, "keep the yardsticks' databases for a look afterwards")
	fs.Int64Var(&c.crowd.Stock, "stock", 1000, "initial stock of the item")
	fs.IntVar(&c.crowd.Orders, "orders", 20000, "orders to send to each strategy")
	fs.IntVar(&c.crowd.Concurrency, "concurrency", 64, "customers ordering at the same time")
	fs.IntVar(&c.crowd.Quantity, "quantity", 1, "quantity of each order")
	fs.IntVar(&c.pool, "pool", 0, "database connections of each yardstick (0: --concurrency, at most 64)")
	fs.DurationVar(&c.window, "naive-window", yardstick.DefaultWindow, "the naive strategy's pause between its read and its write")
	fs.IntVar(&c.crowd.Wait, "wait", 5, "`seconds` of Prefer: wait on orderq's orders and of long-polls")
	fs.DurationVar(&c.crowd.Timeout, "timeout", 2*time.Minute, "deadline for every order of one strategy to be final")
	fs.BoolVar(&c.json, "json", false, "print the comparison as JSON")
	fs.StringVar(&c.report, "report", "", "also write an HTML report to `file`: the table and charts of orderq's run (of the first strategy's without orderq)")
	if err := cli.Parse(fs, args, compareHelp); err != nil {
		return c, fs, err
	}
	applied := applyEnv(fs, getenv)
	if err := auth.apply(fs, getenv, &c.crowd, compareHelp); err != nil {
		return c, fs, err
	}
	for s := range strings.SplitSeq(strategies, ",") {
		s = strings.TrimSpace(s)
		switch {
		case !slices.Contains(allStrategies, s):
			return c, fs, cli.UsageError{Err: fmt.Errorf("unknown strategy %q: want some of %s", s, strings.Join(allStrategies, ", ")), Help: compareHelp}
		case slices.Contains(c.strategies, s):
			return c, fs, cli.UsageError{Err: fmt.Errorf("strategy %q named twice", s), Help: compareHelp}
		}
		c.strategies = append(c.strategies, s)
	}
	slices.SortFunc(c.strategies, func(a, b string) int {
		return slices.Index(allStrategies, a) - slices.Index(allStrategies, b)
	})
	if c.pool < 0 || c.window < 0 {
		return c, fs, cli.UsageError{Err: errors.New("pool and naive-window must be 0 or more"), Help: compareHelp}
	}
	if c.pool == 0 {
		// MySQL's default max_connections is 151, shared with orderq's processes.
		c.pool = min(c.crowd.Concurrency, 64)
	}
	if c.mysqlDSN == "" {
		return c, fs, cli.UsageError{Err: errors.New("mysql-dsn is required: the yardsticks' databases live on its server"), Help: compareHelp}
	}
	if _, err := mysql.ParseDSN(c.mysqlDSN); err != nil {
		return c, fs, cli.UsageError{Err: fmt.Errorf("mysql-dsn: %w", err), Help: compareHelp}
	}
	if err := c.crowd.Validate(); err != nil {
		return c, fs, cli.UsageError{Err: err, Help: compareHelp}
	}
	c.header = newHeader("loadtest compare", fs, args, applied, getenv)
	return c, fs, nil
}

func compare(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, tty bool) error {
	cfg, fs, err := loadCompareConfig(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stdout, fs, compareAbout)
		return nil
	}
	if err != nil {
		return err
	}
	if slices.Contains(cfg.strategies, orderqStrategy) {
		// Find a gateway that is down now, not after the yardsticks ran.
		if err := ready(ctx, cfg.crowd.URL); err != nil {
			return fmt.Errorf("orderq at %s: %w (--strategies without orderq skips it)", cfg.crowd.URL, err)
		}
		cfg.header.Target = describeTarget(ctx, cfg.crowd.URL)
	} else {
		cfg.header.Target = report.Target{Note: "orderq is not among --strategies: only the yardsticks, in this process, were driven"}
	}
	fmt.Fprintf(stderr, "loadtest: %d orders of quantity %d, %d at once, for stock %d, against %s\n",
		cfg.crowd.Orders, cfg.crowd.Quantity, cfg.crowd.Concurrency, cfg.crowd.Stock, strings.Join(cfg.strategies, ", "))
	if slices.Contains(cfg.strategies, orderqStrategy) {
		fmt.Fprintf(stderr, "loadtest: at orderq, %s\n", authNote(cfg.crowd))
	}

	var (
		rows      []report.Strategy
		shown     report.Page // the charts of orderq's run, or of the first strategy's without orderq
		ledgerErr error
		broken    []string
	)
	for _, name := range cfg.strategies {
		in, lerr, err := cfg.runStrategy(ctx, name, stderr, tty)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		s := report.Build(in)
		about := yardstick.About[name]
		if name == orderqStrategy {
			about = "the gateway at " + cfg.crowd.URL
			ledgerErr = lerr
		}
		rows = append(rows, report.NewStrategy(name, about, s))
		if !s.Invariants.Passed && (name == orderqStrategy || cfg.expectCorrect) {
			broken = append(broken, name)
		}
		if shown.Summary == nil || name == orderqStrategy {
			shown = report.Page{Title: "loadtest compare: " + name, Summary: &s}
		}
	}

	c := report.Compare(report.CompareCrowd{
		Orders: cfg.crowd.Orders, Concurrency: cfg.crowd.Concurrency, Stock: cfg.crowd.Stock,
		Quantity: cfg.crowd.Quantity, NaiveWindowMS: float64(cfg.window) / float64(time.Millisecond),
	}, rows)
	c.Header = cfg.finished()
	write := c.WriteText
	if cfg.json {
		write = c.WriteJSON
	}
	if err := write(stdout); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	shown.Header, shown.Comparison = c.Header, &c
	if err := cfg.writeHTML(stderr, shown); err != nil {
		return err
	}
	if len(broken) > 0 {
		return fmt.Errorf("%w by %s", errViolated, strings.Join(broken, ", "))
	}
	return ledgerErr
}

// runStrategy runs the crowd against one strategy and checks the result. The
// error is a run that could not be made; lerr an orderq ledger that could not
// be read.
func (cfg compareConfig) runStrategy(ctx context.Context, name string, stderr io.Writer, tty bool) (in report.Input, lerr, err error) {
	cc := cfg.crowd
	var lr *ledger.Reader
	note := "a yardstick keeps no ledger"
	if name == orderqStrategy {
		lr, note, err = orderqLedger(ctx, cfg.mysqlDSN)
		if err != nil {
			return in, nil, err
		}
		if lr != nil {
			defer lr.Close()
		}
	} else {
		srv, cleanup, err := cfg.startYardstick(ctx, name, stderr)
		if err != nil {
			return in, nil, err
		}
		defer cleanup()
		// A yardstick checks no credential: its buyers name themselves.
		cc.URL, cc.Auth = srv.URL, crowd.AuthNone
	}

	return checkedSale(ctx, cc, cfg.output, lr, note, stderr, tty, "compare "+name)
}

// orderqLedger opens orderq's database for the ledger check, when the DSN
// names one.
func orderqLedger(ctx context.Context, dsn string) (*ledger.Reader, string, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, "", err
	}
	if cfg.DBName == "" {
		return nil, "--mysql-dsn names no database", nil
	}
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	lr, err := ledger.Open(octx, dsn)
	if err != nil {
		return nil, "", fmt.Errorf("%w (a --mysql-dsn without a database skips orderq's ledger check)", err)
	}
	return lr, "", nil
}

// startYardstick creates the strategy's database and serves it; cleanup
// stops the server and drops the database, unless --keep.
func (cfg compareConfig) startYardstick(ctx context.Context, name string, stderr io.Writer) (*yardstick.Server, func(), error) {
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	db := yardstick.Database(name)
	dsn, drop, err := yardstick.CreateDatabase(sctx, cfg.mysqlDSN, db)
	if err != nil {
		return nil, nil, err
	}
	dropDB := func() {
		if cfg.keep {
			fmt.Fprintf(stderr, "loadtest: kept database %s of %s\n", db, name)
			return
		}
		// Dropping must outlive an interrupt of the run.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := drop(dctx); err != nil {
			fmt.Fprintf(stderr, "loadtest: %v\n", err)
		}
	}
	srv, err := yardstick.Start(sctx, yardstick.Options{Strategy: name, DSN: dsn, Pool: cfg.pool, Window: cfg.window})
	if err != nil {
		dropDB()
		return nil, nil, err
	}
	return srv, func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := srv.Close(cctx); err != nil {
			fmt.Fprintf(stderr, "loadtest: stop %s: %v\n", name, err)
		}
		dropDB()
	}, nil
}

// ready asks the gateway's /readyz whether it can take orders.
func ready(ctx context.Context, url string) error {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, strings.TrimRight(url, "/")+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/readyz answered %s", resp.Status)
	}
	return nil
}

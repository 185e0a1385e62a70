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
	"github.com/redis/go-redis/v9"

	"github.com/orderq/orderq/loadtest/internal/crowd"
	"github.com/orderq/orderq/loadtest/internal/ledger"
	"github.com/orderq/orderq/loadtest/internal/redisserver"
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
throughput, latency, oversold units, lost updates and lost orders per
strategy, and orderq's ratio to the best of forupdate and atomic.

  naive      SELECT stock, then UPDATE to the value read minus the quantity, with
             no transaction: the lost-update bug. A pause of --naive-window
             between read and write makes the race show on any machine.
  forupdate  one transaction per order: SELECT … FOR UPDATE, UPDATE, INSERT
  atomic     one conditional UPDATE … WHERE stock >= ? per order, then INSERT
  redis      the design most flash-sale systems use: a Lua script checks and
             decrements the stock in Redis and queues the order there, the
             buyer is answered at once, and a writer takes the queued orders
             to MySQL every --redis-write-every, in one transaction a batch. A
             stock Redis lacks is loaded from MySQL.
  orderq     the gateway at --url (queue-serialized, batched), its buyers
             authenticated as --auth says; the yardsticks check no credential

naive, forupdate, atomic and redis are yardsticks, not product endpoints:
small gin services started in-process for the comparison, each on its own
database (orderq_compare_<strategy>_<random>) on the server of --mysql-dsn,
dropped afterwards unless --keep. redis gets a redis-server of its own
(--port free --save '' --appendonly no, on 127.0.0.1), started for its run
and stopped after it; --redis-url uses one that runs instead.

--kill-redis-after D crashes that redis-server (SIGKILL) D into redis's run,
unless the crowd has sent every order by then, and starts it again, empty,
1s later; meanwhile redis answers 503 with Retry-After, and the crowd
retries. The orders confirmed but not yet written die with Redis, and the
stock reloaded from MySQL sells their units again.

Once the crowd is done, every order answered confirmed is read back
(GET /api/v1/orders/{id}); one the strategy no longer finds is lost: the
lost orders column, and the order_lost invariant.

The yardsticks' violations are reported, that is their point; the exit status
is 1 only when orderq breaks an invariant, or, with --expect-correct, when any
selected strategy does: 'loadtest compare --strategies naive --expect-correct'
exits 1, which proves the checker fails a broken build.
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
	// The redis strategy: the Redis it uses (empty: one of its own), its
	// writer's interval, and when to crash its own Redis (0: never).
	redisURL       string
	writeEvery     time.Duration
	killRedisAfter time.Duration
	output
}

// redisDowntime is how long a Redis that --kill-redis-after crashed stays
// down: long enough that orders meet it gone (503 and the crowd's retries),
// short enough that the crowd's retries outlast it.
const redisDowntime = time.Second

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
	fs.StringVar(&strategies, "strategies", strategies, "comma-separated `list` of the strategies to run: "+strings.Join(allStrategies, ", "))
	fs.BoolVar(&c.expectCorrect, "expect-correct", false, "exit 1 when any selected strategy breaks an invariant, not only orderq")
	fs.BoolVar(&c.keep, "keep", false, "keep the yardsticks' databases for a look afterwards")
	fs.Int64Var(&c.crowd.Stock, "stock", 1000, "initial stock of the item")
	fs.IntVar(&c.crowd.Orders, "orders", 20000, "orders to send to each strategy")
	fs.IntVar(&c.crowd.Concurrency, "concurrency", 64, "customers ordering at the same time")
	fs.IntVar(&c.crowd.Quantity, "quantity", 1, "quantity of each order")
	fs.IntVar(&c.pool, "pool", 0, "database connections of each yardstick (0: --concurrency, at most 64)")
	fs.DurationVar(&c.window, "naive-window", yardstick.DefaultWindow, "the naive strategy's pause between its read and its write")
	fs.StringVar(&c.redisURL, "redis-url", "", "`URL` of a running Redis for the redis strategy (redis://host:port/db), instead of a redis-server of its own; its keys are removed afterwards")
	fs.DurationVar(&c.writeEvery, "redis-write-every", yardstick.DefaultWriteEvery, "how often the redis strategy's writer takes the orders Redis holds to MySQL")
	fs.DurationVar(&c.killRedisAfter, "kill-redis-after", 0, "SIGKILL the redis strategy's redis-server this long into its run, and start it again empty 1s later (0: never)")
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
	if err := c.validRedis(); err != nil {
		return c, fs, cli.UsageError{Err: err, Help: compareHelp}
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

// validRedis checks the flags of the redis strategy.
func (c compareConfig) validRedis() error {
	switch {
	case c.writeEvery <= 0:
		return errors.New("redis-write-every must be positive")
	case c.killRedisAfter < 0:
		return errors.New("kill-redis-after must be 0 (never) or positive")
	case c.killRedisAfter > 0 && !slices.Contains(c.strategies, yardstick.Redis):
		return errors.New("kill-redis-after needs the redis strategy among --strategies")
	case c.killRedisAfter > 0 && c.redisURL != "":
		return errors.New("kill-redis-after crashes the redis-server compare starts, so it cannot go with --redis-url")
	}
	if c.redisURL != "" {
		if _, err := redis.ParseURL(c.redisURL); err != nil {
			return fmt.Errorf("redis-url: %w", err)
		}
	}
	return nil
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
	if slices.Contains(cfg.strategies, yardstick.Redis) {
		// As for the gateway: a missing Redis now, not after the others ran.
		if err := cfg.redisReady(ctx); err != nil {
			return fmt.Errorf("redis: %w (--strategies without redis skips it)", err)
		}
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
		in, fault, lerr, err := cfg.runStrategy(ctx, name, stderr, tty)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		s := report.Build(in)
		about := yardstick.About[name]
		if name == orderqStrategy {
			about = "the gateway at " + cfg.crowd.URL
			ledgerErr = lerr
		}
		row := report.NewStrategy(name, about, s)
		row.Fault = fault
		rows = append(rows, row)
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
		RedisWriteEveryMS: float64(cfg.writeEvery) / float64(time.Millisecond),
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

// runStrategy runs the crowd against one strategy and checks the result;
// fault says what was done to the strategy meanwhile. The error is a run
// that could not be made; lerr an orderq ledger that could not be read.
func (cfg compareConfig) runStrategy(ctx context.Context, name string, stderr io.Writer, tty bool) (in report.Input, fault string, lerr, err error) {
	cc := cfg.crowd
	// Every order a buyer was told is confirmed must still be there.
	cc.ReadBack = true
	var lr *ledger.Reader
	note := "a yardstick keeps no ledger"
	var c *crash
	switch name {
	case orderqStrategy:
		lr, note, err = orderqLedger(ctx, cfg.mysqlDSN)
		if err != nil {
			return in, "", nil, err
		}
		if lr != nil {
			defer lr.Close()
		}
	default:
		redisURL := cfg.redisURL
		var rs *redisserver.Server
		if name == yardstick.Redis && redisURL == "" {
			if rs, err = redisserver.Start(ctx); err != nil {
				return in, "", nil, err
			}
			fmt.Fprintf(stderr, "loadtest: redis: %s started\n", rs)
			// Stopped last: the yardstick's Close writes what Redis holds.
			defer func() {
				if err := rs.Stop(); err != nil {
					fmt.Fprintf(stderr, "loadtest: redis: %v\n", err)
				}
			}()
			redisURL = rs.URL()
		}
		srv, cleanup, err := cfg.startYardstick(ctx, name, redisURL, stderr)
		if err != nil {
			return in, "", nil, err
		}
		defer cleanup()
		// A yardstick checks no credential: its buyers name themselves.
		cc.URL, cc.Auth = srv.URL, crowd.AuthNone
		if rs != nil && cfg.killRedisAfter > 0 {
			cc.Progress = &crowd.Progress{}
			c = startCrash(ctx, rs, cfg.killRedisAfter, cc.Progress, int64(cc.Orders), stderr)
		}
	}

	in, lerr, err = checkedSale(ctx, cc, cfg.output, lr, note, stderr, tty, "compare "+name)
	if c != nil {
		var cerr error
		if fault, cerr = c.stop(); cerr != nil && err == nil {
			err = cerr
		}
	}
	return in, fault, lerr, err
}

// crash kills a Redis a while into a run, and starts it again empty
// redisDowntime later. A crowd that has sent every order by then is spared:
// the crash is to meet the sale, not the reads of its result.
type crash struct {
	cancel func()
	done   chan struct{}
	fault  string // what was done, once done
	err    error
}

func startCrash(ctx context.Context, rs *redisserver.Server, after time.Duration, progress *crowd.Progress, orders int64,
	stderr io.Writer) *crash {
	cctx, cancel := context.WithCancel(ctx)
	c := &crash{cancel: cancel, done: make(chan struct{})}
	start := time.Now()
	go func() {
		defer close(c.done)
		if !crowd.Sleep(cctx, after) || progress.Sent.Load() >= orders {
			c.fault = fmt.Sprintf("Redis not killed: the crowd had sent its %d orders before --kill-redis-after %s", orders, after)
			fmt.Fprintf(stderr, "loadtest: redis: %s\n", c.fault)
			return
		}
		pid := rs.Pid()
		if err := rs.Kill(); err != nil {
			c.err = err
			return
		}
		at := time.Since(start)
		fmt.Fprintf(stderr, "loadtest: redis: killed redis-server (pid %d) %s into the run\n", pid, at.Round(time.Millisecond))
		// Down for its time whether or not the run ends meanwhile: what is
		// closed after the run needs Redis back.
		time.Sleep(redisDowntime)
		if err := rs.Restart(context.WithoutCancel(ctx)); err != nil {
			c.err = fmt.Errorf("restart redis-server after --kill-redis-after: %w", err)
			return
		}
		fmt.Fprintf(stderr, "loadtest: redis: %s restarted empty\n", rs)
		c.fault = fmt.Sprintf("Redis SIGKILLed %s into the run, restarted empty %s later", at.Round(time.Millisecond), redisDowntime)
	}()
	return c
}

// stop cancels a crash not yet begun, waits for one under way, and says what
// was done.
func (c *crash) stop() (string, error) {
	c.cancel()
	<-c.done
	return c.fault, c.err
}

// redisReady checks that the redis strategy will have its Redis: the one of
// --redis-url answers, or redis-server is installed to start one.
func (cfg compareConfig) redisReady(ctx context.Context) error {
	if cfg.redisURL == "" {
		_, err := redisserver.Program()
		if err != nil {
			return fmt.Errorf("%w, or --redis-url names a Redis that runs", err)
		}
		return nil
	}
	opts, err := redis.ParseURL(cfg.redisURL)
	if err != nil {
		return err
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		return fmt.Errorf("--redis-url %s: %w", urlWithoutPassword(cfg.redisURL), err)
	}
	return nil
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
func (cfg compareConfig) startYardstick(ctx context.Context, name, redisURL string, stderr io.Writer) (*yardstick.Server, func(), error) {
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
	srv, err := yardstick.Start(sctx, yardstick.Options{Strategy: name, DSN: dsn, Pool: cfg.pool, Window: cfg.window,
		RedisURL: redisURL, WriteEvery: cfg.writeEvery})
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

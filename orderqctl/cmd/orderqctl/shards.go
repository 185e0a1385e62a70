package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/orderq/orderq/shared/cli"
	"github.com/orderq/orderq/shared/config"
	"github.com/orderq/orderq/shared/deployment"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/mq"
	"github.com/orderq/orderq/shared/orderstore"
	"github.com/orderq/orderq/shared/outbox"
	"github.com/orderq/orderq/shared/shard"
)

var shardsCommand = command{
	name:    "shards",
	usage:   "shards [change N | resume] [--timeout 10m] [--json]",
	summary: "show the shard count and what is left to apply, or change the count",
	about: `Without arguments, shows the deployment's shard count, whether its intake is
open, and what is left to apply: each shard queue's messages (ready and
unacknowledged) and consumers, the outbox and the orders still pending.

With change N, changes the shard count to N, under a crowd, losing nothing:
  1. pauses the intake: every gateway answers orders and stock changes with
     503 and Retry-After within a second, and clients retry;
  2. waits until every shard queue, the outbox and the pending orders are
     empty, twice in a row a second apart;
  3. records N, under a lock that no transaction routing by the old count
     holds, and opens the intake again;
  4. every gateway and worker of the old count stops (exit status 3) within a
     second: restart them all with SHARDS=N; a program started with another
     count than the deployment's refuses to start.
If the shards do not drain within --timeout, the intake opens again and the
count stays. With resume, opens the intake that a change stopped before its
end (killed) left paused.
Exit status 0: shown, changed or resumed; 3: it could not be done.
Environment: MYSQL_DSN and AMQP_URL (required), as the programs read them;
RABBITMQ_API (required for change), the management API's URL with a user that
may read the vhost's queues, e.g. http://monitor:secret@rabbitmq:15672: only it
tells a queue's unacknowledged messages.
`,
	flags: func(fs *flag.FlagSet) func(context.Context, env, []string) error {
		timeout := fs.Duration("timeout", 10*time.Minute, "how long the shards may take to drain")
		asJSON := fs.Bool("json", false, "print the state as JSON")
		return func(ctx context.Context, e env, args []string) error {
			switch {
			case len(args) == 0:
				return showShards(ctx, e, *asJSON)
			case len(args) == 1 && args[0] == "resume":
				return resumeIntake(ctx, e)
			case len(args) == 2 && args[0] == "change":
				n, err := strconv.Atoi(args[1])
				if err != nil || n < 1 || n > shard.Max {
					return cli.UsageError{Err: fmt.Errorf("change %s: want a shard count from 1 to %d", args[1], shard.Max), Help: "orderqctl help shards"}
				}
				if *timeout <= 0 {
					return cli.UsageError{Err: fmt.Errorf("--timeout %s: want a duration above 0", *timeout), Help: "orderqctl help shards"}
				}
				return changeShards(ctx, e, n, *timeout)
			}
			return cli.UsageError{Err: fmt.Errorf("shards %s: see the usage", strings.Join(args, " ")), Help: "orderqctl help shards"}
		}
	},
}

// drainGrace is how long the change waits after pausing the intake before
// it looks at the queues: every gateway reads the pause within two of its
// reads, and a publish in flight then ends within its confirm timeout.
const drainGrace = 2*deployment.WatchEvery + 5*time.Second

// shardsState is what shards shows.
type shardsState struct {
	Shards     int          `json:"shards"`
	IntakeOpen bool         `json:"intake_open"`
	Queues     []queueState `json:"queues"`
	Outbox     int64        `json:"outbox"`
	Pending    int64        `json:"pending_orders"`
}

// queueState is a shard queue's messages and consumers; Unacked is -1 when
// only AMQP was asked, which does not tell them.
type queueState struct {
	Name      string `json:"name"`
	Ready     int    `json:"ready"`
	Unacked   int    `json:"unacknowledged"`
	Consumers int    `json:"consumers"`
}

// drained reports whether nothing is left to apply.
func (s shardsState) drained() bool {
	for _, q := range s.Queues {
		if q.Ready != 0 || q.Unacked != 0 {
			return false
		}
	}
	return s.Outbox == 0 && s.Pending == 0
}

// shardsEnv is what the command works with.
type shardsEnv struct {
	db       *gorm.DB
	amqpURLs string
	vhost    string
	api      string // the management API's base URL, "" without
}

func openShardsEnv(e env, needAPI bool) (*shardsEnv, func(), error) {
	dsn, urls := e.getenv("MYSQL_DSN"), config.String(e.getenv, "AMQP_URL", "")
	if dsn == "" || urls == "" {
		return nil, nil, errors.New("MYSQL_DSN and AMQP_URL must be set: they name the deployment's database, broker and vhost")
	}
	u, err := url.Parse(mq.Nodes(urls)[0])
	if err != nil {
		return nil, nil, fmt.Errorf("AMQP_URL: %w", err)
	}
	vhost := strings.TrimPrefix(u.Path, "/")
	if vhost == "" {
		vhost = "/"
	}
	api := e.getenv("RABBITMQ_API")
	if needAPI && api == "" {
		return nil, nil, errors.New("RABBITMQ_API is not set: a change must see each shard queue's unacknowledged messages, which only the management API tells")
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("MYSQL_DSN: %w", err)
	}
	db, err := gorm.Open(gormmysql.New(gormmysql.Config{DSNConfig: cfg}), &gorm.Config{Logger: logger.Discard, SkipDefaultTransaction: true})
	if err != nil {
		return nil, nil, fmt.Errorf("open database: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, nil, err
	}
	return &shardsEnv{db: db, amqpURLs: urls, vhost: vhost, api: strings.TrimSuffix(api, "/")}, func() { sqlDB.Close() }, nil
}

// state reads the deployment's shard count, intake and backlog.
func (s *shardsEnv) state(ctx context.Context) (shardsState, error) {
	st, err := deployment.Read(ctx, s.db)
	if err != nil {
		return shardsState{}, err
	}
	if st.Shards == 0 {
		return shardsState{}, errors.New("no shard count is recorded: no gateway or worker ever started on this database")
	}
	out := shardsState{Shards: st.Shards, IntakeOpen: st.IntakeOpen}
	if out.Outbox, out.Pending, err = leftInDatabase(ctx, s.db); err != nil {
		return shardsState{}, err
	}
	if out.Queues, err = s.queues(ctx, st.Shards); err != nil {
		return shardsState{}, err
	}
	return out, nil
}

// leftInDatabase counts what the database holds that is routed by the shard
// count: commands in the outbox, and carts some shard has yet to decide.
func leftInDatabase(ctx context.Context, tx *gorm.DB) (outboxRows, pending int64, err error) {
	b, err := outbox.ReadBacklog(ctx, tx)
	if err != nil {
		return 0, 0, err
	}
	pending, err = orderstore.Pending(tx.WithContext(ctx))
	return b.Rows, pending, err
}

// errLeft is a change refused because the database holds commands routed by
// the old count.
type errLeft struct{ outbox, pending int64 }

func (e errLeft) Error() string {
	return fmt.Sprintf("commands are still to be applied: outbox %d, pending orders %d", e.outbox, e.pending)
}

// queues reads the shard queues' messages and consumers: from the
// management API when there is one, else over AMQP, without the
// unacknowledged.
func (s *shardsEnv) queues(ctx context.Context, shards int) ([]queueState, error) {
	qs := make([]queueState, shards)
	if s.api != "" {
		client := http.Client{Timeout: 10 * time.Second}
		for n := range qs {
			name := message.ShardQueue(n)
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.api+"/api/queues/"+url.PathEscape(s.vhost)+"/"+url.PathEscape(name), nil)
			if err != nil {
				return nil, err
			}
			resp, err := client.Do(req)
			if err != nil {
				return nil, fmt.Errorf("RABBITMQ_API: %w", err)
			}
			var q struct {
				Ready     int `json:"messages_ready"`
				Unacked   int `json:"messages_unacknowledged"`
				Consumers int `json:"consumers"`
			}
			err = json.NewDecoder(resp.Body).Decode(&q)
			resp.Body.Close()
			switch {
			case resp.StatusCode == http.StatusNotFound:
				return nil, fmt.Errorf("queue %s does not exist on vhost %s", name, s.vhost)
			case resp.StatusCode != http.StatusOK:
				return nil, fmt.Errorf("RABBITMQ_API: queue %s: %s", name, resp.Status)
			case err != nil:
				return nil, fmt.Errorf("RABBITMQ_API: queue %s: %w", name, err)
			}
			qs[n] = queueState{Name: name, Ready: q.Ready, Unacked: q.Unacked, Consumers: q.Consumers}
		}
		return qs, nil
	}
	conn, err := mq.Dial(s.amqpURLs, "orderqctl")
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	for n := range qs {
		q, err := ch.QueueDeclarePassive(message.ShardQueue(n), true, false, false, false, nil)
		if err != nil {
			return nil, fmt.Errorf("queue %s: %w", message.ShardQueue(n), err)
		}
		qs[n] = queueState{Name: q.Name, Ready: q.Messages, Unacked: -1, Consumers: q.Consumers}
	}
	return qs, nil
}

func showShards(ctx context.Context, e env, asJSON bool) error {
	s, closeDB, err := openShardsEnv(e, false)
	if err != nil {
		return err
	}
	defer closeDB()
	st, err := s.state(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	writeState(e.stdout, st)
	return nil
}

func writeState(w io.Writer, st shardsState) {
	intake := "open"
	if !st.IntakeOpen {
		intake = "paused"
	}
	fmt.Fprintf(w, "shards %d, intake %s\n", st.Shards, intake)
	for _, q := range st.Queues {
		unacked := strconv.Itoa(q.Unacked)
		if q.Unacked < 0 {
			unacked = "? (set RABBITMQ_API)"
		}
		fmt.Fprintf(w, "  %-20s ready %d, unacknowledged %s, consumers %d\n", q.Name, q.Ready, unacked, q.Consumers)
	}
	fmt.Fprintf(w, "outbox %d, pending orders %d\n", st.Outbox, st.Pending)
}

// resumeIntake opens the intake.
func resumeIntake(ctx context.Context, e env) error {
	s, closeDB, err := openShardsEnv(e, false)
	if err != nil {
		return err
	}
	defer closeDB()
	if err := deployment.SetIntake(ctx, s.db, true); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "intake open: the gateways take orders again within a second")
	return nil
}

func changeShards(ctx context.Context, e env, to int, timeout time.Duration) error {
	s, closeDB, err := openShardsEnv(e, true)
	if err != nil {
		return err
	}
	defer closeDB()
	st, err := s.state(ctx)
	if err != nil {
		return err
	}
	from := st.Shards
	if from == to {
		return cli.UsageError{Err: fmt.Errorf("the deployment runs %d shards already", to), Help: "orderqctl help shards"}
	}
	if err := deployment.SetIntake(ctx, s.db, false); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "orderqctl: intake paused; waiting for the %d shards to drain\n", from)
	changed := false
	// Whatever happens, the intake opens again: on the new count, or on the
	// old one, unchanged.
	defer func() {
		if err := deployment.SetIntake(context.WithoutCancel(ctx), s.db, true); err != nil {
			fmt.Fprintf(e.stderr, "orderqctl: could not open the intake again (%v): run orderqctl shards resume\n", err)
		} else if !changed {
			fmt.Fprintf(e.stderr, "orderqctl: intake open again; the deployment still runs %d shards\n", from)
		}
	}()
	if !mq.Sleep(ctx, drainGrace) {
		return ctx.Err()
	}
	deadline := time.Now().Add(timeout)
	calm := 0 // drained checks in a row
	for {
		st, err := s.state(ctx)
		if err != nil {
			return err
		}
		if st.Shards != from {
			return fmt.Errorf("the deployment's shard count changed to %d meanwhile", st.Shards)
		}
		if calm++; !st.drained() {
			calm = 0
		}
		if calm >= 2 {
			err := deployment.Change(ctx, s.db, from, to, func(tx *gorm.DB) error {
				o, p, err := leftInDatabase(ctx, tx)
				switch {
				case err != nil:
					return err
				case o > 0 || p > 0:
					return errLeft{o, p}
				}
				return nil
			})
			if err == nil {
				changed = true
				fmt.Fprintf(e.stdout, "shard count changed from %d to %d: the gateways and workers of %d shards stop within a second; restart them with SHARDS=%d\n",
					from, to, from, to)
				return nil
			}
			var left errLeft
			if !errors.As(err, &left) {
				return err
			}
			calm = 0 // a command got in between: drain again
			fmt.Fprintf(e.stderr, "orderqctl: not changed yet: %v\n", left)
		}
		if time.Now().After(deadline) {
			writeState(e.stderr, st)
			return fmt.Errorf("the shards did not drain within %s", timeout)
		}
		if !mq.Sleep(ctx, time.Second) {
			return ctx.Err()
		}
	}
}

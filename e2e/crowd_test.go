package e2e

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/testenv"
)

// The helpers of the fault tests: a crowd that retries the way a careful
// storefront does, proxies to cut a process's line to the broker or the
// database, and the flash-sale invariants checked on the database itself.

// crowd places orders 0…n-1 of one item from clients goroutines, each order
// from its own customer with its own Idempotency-Key. An order is retried with
// the same key after a 503 or a 429 (both must carry Retry-After) and, when
// lostOK is set, after a lost connection, until it is accepted: so every order
// ends accepted exactly once, whatever the gateway went through.
type crowd struct {
	t       *testing.T
	item    int64
	prefix  string
	n       int
	clients int
	http    *http.Client
	base    atomic.Pointer[string]
	lostOK  atomic.Bool
	// pace is how long a client waits after each accepted order, so that a
	// crowd can last as long as a fault; stop ends it early.
	pace    time.Duration
	stopped atomic.Bool
	// abandoned ends every order at its next try: the test ended early, and
	// none may report to it afterwards.
	abandoned atomic.Bool
	started   atomic.Bool

	accepted atomic.Int64
	mu       sync.Mutex
	ids      []string       // order i's id once accepted
	begun    []bool         // whether order i was sent (a stopped crowd sends no more)
	times    []time.Time    // when each acceptance came, in order
	statuses map[int]int    // every answer, by status
	lost     map[string]int // requests that got no answer, by error
	done     chan struct{}
}

func newCrowd(t *testing.T, base string, item int64, n, clients int) *crowd {
	c := &crowd{
		t: t, item: item, prefix: testenv.Name("buyer-"), n: n, clients: clients,
		http: &http.Client{
			Timeout:   60 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients},
		},
		ids: make([]string, n), begun: make([]bool, n), statuses: map[int]int{}, lost: map[string]int{}, done: make(chan struct{}),
	}
	c.base.Store(&base)
	t.Cleanup(func() {
		c.abandoned.Store(true)
		if c.started.Load() {
			<-c.done
		}
		c.http.CloseIdleConnections()
	})
	return c
}

// stop sends no order after those sent; wait waits for them.
func (c *crowd) stop() { c.stopped.Store(true) }

// setBase sends the requests from now on to another gateway.
func (c *crowd) setBase(base string) { c.base.Store(&base) }

// start sends the crowd; wait waits until every order was accepted (or given
// up on, which fails the test).
func (c *crowd) start() {
	c.started.Store(true)
	work := make(chan int, c.n)
	for i := range c.n {
		work <- i
	}
	close(work)
	var wg sync.WaitGroup
	for range c.clients {
		wg.Go(func() {
			for i := range work {
				if c.stopped.Load() || c.abandoned.Load() {
					return
				}
				c.mu.Lock()
				c.begun[i] = true
				c.mu.Unlock()
				c.place(i)
				time.Sleep(c.pace)
			}
		})
	}
	go func() { wg.Wait(); close(c.done) }()
}

func (c *crowd) wait() {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(3 * time.Minute):
		c.t.Fatalf("the crowd did not finish in 3 minutes (%d of %d accepted)", c.accepted.Load(), c.n)
	}
}

// waitAccepted waits until n orders were accepted.
func (c *crowd) waitAccepted(n int) {
	c.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for c.accepted.Load() < int64(n) {
		if time.Now().After(deadline) {
			c.t.Fatalf("%d of %d orders accepted after 2 minutes", c.accepted.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// place sends order i until it is accepted.
func (c *crowd) place(i int) {
	customer := fmt.Sprintf("%s%d", c.prefix, i)
	body := fmt.Sprintf(`{"item_id":%d,"quantity":1,"customer_id":%q}`, c.item, customer)
	key := fmt.Sprintf("key-%d", i)
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if c.abandoned.Load() {
			return
		}
		status, header, o, err := postOrder(c.http, *c.base.Load(), body, key)
		c.mu.Lock()
		if err != nil {
			c.lost[lostKind(err)]++
		} else {
			c.statuses[status]++
		}
		c.mu.Unlock()
		switch {
		case err != nil:
			if !c.lostOK.Load() {
				c.t.Errorf("order %d: %v", i, err)
				return
			}
		case status == http.StatusAccepted || status == http.StatusOK:
			if o.ID == "" || o.ItemID != c.item || o.CustomerID != customer {
				c.t.Errorf("order %d: accepted as %+v", i, o)
				return
			}
			c.mu.Lock()
			c.ids[i] = o.ID
			c.times = append(c.times, time.Now())
			c.mu.Unlock()
			c.accepted.Add(1)
			return
		case status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests:
			if header.Get("Retry-After") == "" {
				c.t.Errorf("order %d: %d without Retry-After", i, status)
			}
		default:
			c.t.Errorf("order %d: status %d", i, status)
			return
		}
		// Retry-After says 1 s; a test need not wait that long to retry.
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Errorf("order %d (key %s) not accepted within 2 minutes", i, key)
}

// lostKind names why a request got no answer: "refused" when it never
// reached a server, else the error.
func lostKind(err error) string {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return "refused"
	}
	return err.Error()
}

// postOrder sends one order as the storefront and decodes an accepted answer.
func postOrder(hc *http.Client, base, body, key string) (int, http.Header, message.Order, error) {
	var o message.Order
	req, err := http.NewRequest(http.MethodPost, base+"/api/v1/orders", strings.NewReader(body))
	if err != nil {
		return 0, nil, o, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", storefrontKey)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, o, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, o, err
	}
	if resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, &o); err != nil {
			return resp.StatusCode, resp.Header, o, fmt.Errorf("decode %s: %w", data, err)
		}
	}
	return resp.StatusCode, resp.Header, o, nil
}

// acceptedIDs returns the ids of the accepted orders; every order must have
// one, and no two the same.
func (c *crowd) acceptedIDs() []string {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]bool{}
	var ids []string
	for i, id := range c.ids {
		switch {
		case !c.begun[i]:
		case id == "":
			c.t.Errorf("order %d never accepted", i)
		case seen[id]:
			c.t.Errorf("order id %s accepted for two orders", id)
		default:
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}

// longestGap is the longest time the crowd went without an order accepted,
// from its first acceptance to its last: the time without service of a fault
// it lived through.
func (c *crowd) longestGap() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var gap time.Duration
	for i := 1; i < len(c.times); i++ {
		gap = max(gap, c.times[i].Sub(c.times[i-1]))
	}
	return gap
}

// summary tells what the crowd saw, for the test log.
func (c *crowd) summary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("%d orders accepted; answers by status %v; requests without an answer %v", c.accepted.Load(), c.statuses, c.lost)
}

// decided returns how many orders of item the database holds.
func (s *system) decided(item int64) int {
	s.t.Helper()
	var n int
	if err := s.db().QueryRow("SELECT COUNT(*) FROM report_order_lines WHERE item_id = ?", item).Scan(&n); err != nil {
		s.t.Fatal(err)
	}
	return n
}

// sale is what the database says of an item's sale.
type sale struct {
	orders    map[string]string // id → status or status/reason
	confirmed int
	stock     int64
	initial   int64
	balance   int64 // initial stock + every movement
	movements int
}

func (s *system) sale(db *sql.DB, item int64) sale {
	s.t.Helper()
	r := sale{orders: map[string]string{}}
	rows, err := db.Query(`SELECT o.id, o.status, COALESCE(o.reason, '') FROM report_orders o
		JOIN report_order_lines l ON l.order_id = o.id WHERE l.item_id = ?`, item)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, status, reason string
		if err := rows.Scan(&id, &status, &reason); err != nil {
			s.t.Fatal(err)
		}
		if reason != "" {
			status += "/" + reason
		}
		r.orders[id] = status
		if status == string(orderstatus.Confirmed) {
			r.confirmed++
		}
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	err = db.QueryRow(`SELECT i.stock, i.initial_stock,
		i.initial_stock + COALESCE((SELECT SUM(delta) FROM stock_movements m WHERE m.item_id = i.id), 0),
		(SELECT COUNT(*) FROM stock_movements m WHERE m.item_id = i.id)
		FROM items i WHERE i.id = ?`, item).Scan(&r.stock, &r.initial, &r.balance, &r.movements)
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

// checkSale waits until every accepted order (of quantity 1) is in the
// database, then checks the flash-sale invariants: the orders are exactly the
// accepted ones, each once and final; confirmed = min(stock, accepted); stock
// = initial − confirmed; the ledger balances with one movement per confirmed
// order. It returns the confirmed count.
func (s *system) checkSale(item int64, ids []string) int {
	s.t.Helper()
	db := s.db()
	deadline := time.Now().Add(90 * time.Second)
	var r sale
	for {
		r = s.sale(db, item)
		if len(r.orders) >= len(ids) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	accepted := map[string]bool{}
	for _, id := range ids {
		accepted[id] = true
		switch st, ok := r.orders[id]; {
		case !ok:
			s.t.Errorf("accepted order %s is not in the database", id)
		case st == string(orderstatus.Pending):
			s.t.Errorf("accepted order %s is still pending", id)
		case st != string(orderstatus.Confirmed) && st != string(orderstatus.Rejected)+"/"+message.ReasonOutOfStock:
			s.t.Errorf("order %s ended %s", id, st)
		}
	}
	for id := range r.orders {
		if !accepted[id] {
			s.t.Errorf("order %s is in the database but was never accepted", id)
		}
	}
	if want := min(int(r.initial), len(ids)); r.confirmed != want {
		s.t.Errorf("%d orders confirmed, want min(stock %d, accepted %d) = %d", r.confirmed, r.initial, len(ids), want)
	}
	if r.stock != r.initial-int64(r.confirmed) {
		s.t.Errorf("stock %d, want initial %d − confirmed %d", r.stock, r.initial, r.confirmed)
	}
	if r.stock != r.balance {
		s.t.Errorf("ledger unbalanced: stock %d, initial + movements %d", r.stock, r.balance)
	}
	if r.movements != r.confirmed {
		s.t.Errorf("%d stock movements for %d confirmed orders: a decrement was applied twice or lost", r.movements, r.confirmed)
	}
	return r.confirmed
}

// proxyBroker puts a proxy between the processes given the returned URL and
// the system's vhost.
func (s *system) proxyBroker() (*testenv.Proxy, string) {
	s.t.Helper()
	u, err := url.Parse(s.env["AMQP_URL"])
	if err != nil {
		s.t.Fatal(err)
	}
	p := testenv.NewProxy(s.t, u.Host)
	u.Host = p.Addr()
	return p, u.String()
}

// proxyDatabase puts a proxy between the processes given the returned DSN and
// the system's database.
func (s *system) proxyDatabase() (*testenv.Proxy, string) {
	s.t.Helper()
	cfg, err := mysql.ParseDSN(s.env["MYSQL_DSN"])
	if err != nil {
		s.t.Fatal(err)
	}
	p := testenv.NewProxy(s.t, cfg.Addr)
	cfg.Addr = p.Addr()
	return p, cfg.FormatDSN()
}

// privateDatabase points the processes started from now on at a MariaDB
// server of the test's own, for a test that crashes it (testenv.MariaDB's
// Kill and Restart).
func (s *system) privateDatabase() *testenv.MariaDB {
	s.t.Helper()
	m := testenv.StartMariaDB(s.t, nil)
	s.env["MYSQL_DSN"] = fmt.Sprintf("root@tcp(127.0.0.1:%d)/orderq?parseTime=true&charset=utf8mb4", m.Port)
	return m
}

// waitReady polls the gateway's /readyz until it answers want.
func waitReady(t *testing.T, base string, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz did not answer %d within 30 s", want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLog waits until the process has logged a line containing all of parts
// count times.
func waitLog(t *testing.T, p *process, count int, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := 0
		for _, line := range strings.Split(p.output(), "\n") {
			all := true
			for _, part := range parts {
				all = all && strings.Contains(line, part)
			}
			if all {
				n++
			}
		}
		if n >= count {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %d log lines with %q after 30 s:\n%s", count, parts, p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// queuedOrderIDs reads every message waiting on the shard queues without
// acknowledging it (they go back when the channel closes) and returns the
// order ids they carry. Only meaningful while no worker consumes: then this
// test is the queues' single active consumer.
func (s *system) queuedOrderIDs(shards int) map[string]bool {
	s.t.Helper()
	conn, err := amqp.Dial(s.env["AMQP_URL"])
	if err != nil {
		s.t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		s.t.Fatal(err)
	}
	defer ch.Close()
	ids := map[string]bool{}
	for n := range shards {
		queue := message.ShardQueue(n)
		// The ready count is exact while nobody consumes; the crowd may add
		// messages behind them, which need not be read.
		q, err := ch.QueueDeclarePassive(queue, true, false, false, false, amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum})
		if err != nil {
			s.t.Fatal(err)
		}
		if q.Messages == 0 {
			continue
		}
		deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
		if err != nil {
			s.t.Fatal(err)
		}
		timeout := time.After(30 * time.Second)
		for range q.Messages {
			var d amqp.Delivery
			select {
			case d = <-deliveries:
			case <-timeout:
				s.t.Fatalf("%s: fewer than the %d messages it said it held", queue, q.Messages)
			}
			// Only the ids: whatever else a command carries is not this
			// test's business.
			var body struct{ Commands []struct{ ID string } }
			if err := json.Unmarshal(d.Body, &body); err != nil {
				s.t.Fatalf("message on %s: %v", queue, err)
			}
			for _, c := range body.Commands {
				ids[c.ID] = true
			}
		}
	}
	return ids
}

// queueDepth returns the messages on a queue, ready and unacknowledged, as the
// management API reports them (its figures trail by a few seconds).
func (s *system) queueDepth(queue string) int {
	s.t.Helper()
	var q struct {
		Messages int `json:"messages"`
	}
	s.management("/api/queues/{vhost}/"+url.PathEscape(queue), &q)
	return q.Messages
}

// management GETs path of the broker's management API, {vhost} standing for
// the system's vhost, and decodes the answer into out.
func (s *system) management(path string, out any) {
	s.t.Helper()
	u, err := url.Parse(s.env["AMQP_URL"])
	if err != nil {
		s.t.Fatal(err)
	}
	api := testenv.ManagementAPI(s.t)
	path = strings.ReplaceAll(path, "{vhost}", url.PathEscape(strings.TrimPrefix(u.Path, "/")))
	req, err := http.NewRequest(http.MethodGet, strings.TrimSuffix(api, "/")+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	if pass, ok := u.User.Password(); ok {
		req.SetBasicAuth(u.User.Username(), pass)
	}
	hc := http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET %s: %s %s", path, resp.Status, bytes.TrimSpace(data))
	}
	if err := json.Unmarshal(data, out); err != nil {
		s.t.Fatal(err)
	}
}

// Package e2e tests orderq end to end: it starts the real bin/api-gateway and
// bin/worker against the real RabbitMQ and MariaDB, each test on its own vhost
// and database, and drives them over HTTP as a storefront would.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/testenv"
	"github.com/orderq/orderq/shared/token"
)

// The system's credentials, each as long as the gateway wants a secret.
const (
	adminToken     = "e2e-admin-token-of-32-characters-or-more"
	storefrontKey  = "e2e-storefront-key-of-32-characters-or-more"
	customerSecret = "e2e-customer-jwt-secret-of-32-bytes-or-more"
	orderIDSecret  = "e2e-order-id-secret-of-32-bytes-or-more"
	webhookSecret  = "e2e-payment-webhook-secret-of-32-bytes-or-more"
)

// binDir holds the binaries under test: ORDERQ_BIN (make test sets it to bin/),
// else built once into a temporary directory.
var binDir string

func TestMain(m *testing.M) {
	binDir = os.Getenv("ORDERQ_BIN")
	if binDir == "" {
		dir, err := os.MkdirTemp("", "orderq-e2e-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for _, b := range []struct{ mod, pkg string }{{"api-gateway", "./cmd/api-gateway"}, {"worker", "./cmd/worker"}} {
			cmd := exec.Command("go", "build", "-race", "-o", filepath.Join(dir, b.mod), b.pkg)
			cmd.Dir = filepath.Join("..", b.mod)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintln(os.Stderr, "build", b.mod, err)
				os.Exit(1)
			}
		}
		binDir = dir
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// system is one deployment under test: a database, a vhost, and the processes
// started on them.
type system struct {
	t     *testing.T
	env   map[string]string
	sqlDB *sql.DB
}

func newSystem(t *testing.T) *system {
	t.Helper()
	return &system{t: t, env: map[string]string{
		"AMQP_URL":               testenv.Vhost(t),
		"MYSQL_DSN":              testenv.Database(t),
		"ADMIN_TOKEN":            adminToken,
		"STOREFRONT_API_KEYS":    storefrontKey,
		"CUSTOMER_JWT_SECRET":    customerSecret,
		"ORDER_ID_SECRET":        orderIDSecret,
		"PAYMENT_WEBHOOK_SECRET": webhookSecret,
		"SHARDS":                 "4",
	}}
}

// db returns a connection pool to the system's database, closed when the test
// ends.
func (s *system) db() *sql.DB {
	s.t.Helper()
	if s.sqlDB == nil {
		db, err := sql.Open("mysql", s.env["MYSQL_DSN"])
		if err != nil {
			s.t.Fatal(err)
		}
		s.t.Cleanup(func() { db.Close() })
		s.sqlDB = db
	}
	return s.sqlDB
}

// process is a running binary.
type process struct {
	cmd  *exec.Cmd
	done chan error
	// exited is closed once the process was waited for; err is then its
	// exit error. (Not cmd.ProcessState: Wait writes it on the reader
	// goroutine, so reading it elsewhere races.)
	exited chan struct{}
	err    error
	mu     sync.Mutex
	out    bytes.Buffer
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// start runs binary with the system's environment plus extra, and returns once
// a log line matches ready (its first group is returned), or fails the test.
func (s *system) start(binary string, extra map[string]string, ready string) (*process, string) {
	s.t.Helper()
	return s.await(s.launch(binary, extra, ready))
}

// launching is a process started and not yet ready.
type launching struct {
	p      *process
	binary string
	found  chan string // the ready line's first group
}

// launch runs binary as start does, without waiting: await waits, so that a
// test can start several processes at once.
func (s *system) launch(binary string, extra map[string]string, ready string) launching {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, binary))
	cmd.Env = append(os.Environ(), "LOG_LEVEL=info")
	for _, m := range []map[string]string{s.env, extra} {
		for k, v := range m {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", binary, err)
	}
	p := &process{cmd: cmd, done: make(chan error, 1), exited: make(chan struct{})}
	found := make(chan string, 1)
	re := regexp.MustCompile(ready)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.out.WriteString(line + "\n")
			p.mu.Unlock()
			if m := re.FindStringSubmatch(line); m != nil {
				select {
				case found <- append(m, "")[1]:
				default:
				}
			}
		}
		p.err = cmd.Wait()
		close(p.exited)
		p.done <- p.err
	}()
	s.t.Cleanup(func() {
		p.stop(syscall.SIGKILL)
		if s.t.Failed() {
			s.t.Logf("%s output:\n%s", binary, p.output())
		}
	})
	return launching{p: p, binary: binary, found: found}
}

// await returns once the launched process is ready, or fails the test.
func (s *system) await(l launching) (*process, string) {
	s.t.Helper()
	p := l.p
	select {
	case v := <-l.found:
		return p, v
	case err := <-p.done:
		p.done <- err
		s.t.Fatalf("%s exited before it was ready (%v):\n%s", l.binary, err, p.output())
	case <-time.After(60 * time.Second):
		s.t.Fatalf("%s not ready after 60 s:\n%s", l.binary, p.output())
	}
	return nil, ""
}

// stop signals the process and waits for it to exit; it returns the exit error.
func (p *process) stop(sig os.Signal) error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
		return p.err
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		return fmt.Errorf("did not exit within 30 s of %v", sig)
	}
}

// The log lines that say a worker consumes and a gateway listens (on the
// address of the first group).
const (
	workerReady  = `"msg":"broker connected"`
	gatewayReady = `"msg":"listening".*"addr":"([^"]+)"`
)

// startWorker starts a worker and waits until it consumes.
func (s *system) startWorker(extra map[string]string) *process {
	s.t.Helper()
	if extra == nil {
		extra = map[string]string{}
	}
	if extra["METRICS_ADDR"] == "" {
		extra["METRICS_ADDR"] = "127.0.0.1:0"
	}
	p, _ := s.start("worker", extra, workerReady)
	return p
}

// startGateway starts a gateway on a free port and returns its base URL once it
// is ready.
func (s *system) startGateway(extra map[string]string) (*process, string) {
	s.t.Helper()
	if extra == nil {
		extra = map[string]string{}
	}
	extra["HTTP_ADDR"] = "127.0.0.1:0"
	if extra["METRICS_ADDR"] == "" {
		extra["METRICS_ADDR"] = "127.0.0.1:0"
	}
	p, addr := s.start("api-gateway", extra, gatewayReady)
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, base
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("gateway not ready after 30 s:\n%s", p.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// client speaks the HTTP API.
type client struct {
	t    *testing.T
	base string
	http *http.Client
	// cred is the credential every request carries unless its own headers
	// have one: the gateway refuses a request with two.
	cred map[string]string
}

// newClient returns a client that acts as the storefront: it names the
// customer in each order, and the admin's requests send admin.
func newClient(t *testing.T, base string, conns int) *client {
	return &client{t: t, base: base, http: &http.Client{
		Timeout:   60 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns},
	}, cred: storefront}
}

// customer returns a client on the same connections that acts as the
// customer sub, with a token of their own.
func (c *client) customer(sub string) *client {
	c.t.Helper()
	tok, err := token.Mint([]byte(customerSecret), sub, time.Hour)
	if err != nil {
		c.t.Fatal(err)
	}
	cc := *c
	cc.cred = map[string]string{"Authorization": "Bearer " + tok}
	return &cc
}

// anonymous returns a client on the same connections that sends no credential.
func (c *client) anonymous() *client {
	cc := *c
	cc.cred = nil
	return &cc
}

// do sends a request and decodes a JSON answer into out (if not nil). It
// returns the status; transport errors fail the test.
func (c *client) do(method, path string, body any, headers map[string]string, out any) int {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if headers["Authorization"] == "" && headers["X-API-Key"] == "" {
		for k, v := range c.cred {
			req.Header.Set(k, v)
		}
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Errorf("%s %s: %v", method, path, err)
		return 0
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Errorf("%s %s: %d %s: %v", method, path, resp.StatusCode, strings.TrimSpace(string(data)), err)
		}
	}
	return resp.StatusCode
}

// The headers of the admin and of the storefront.
var (
	admin      = map[string]string{"Authorization": "Bearer " + adminToken}
	storefront = map[string]string{"X-API-Key": storefrontKey}
)

func (c *client) createItem(name string, stock int64, maxPer int) message.Item {
	c.t.Helper()
	var item message.Item
	if st := c.do("POST", "/api/v1/items", map[string]any{"name": name, "stock": stock, "max_per_customer": maxPer}, admin, &item); st != http.StatusCreated {
		c.t.Fatalf("create item: status %d", st)
	}
	return item
}

func (c *client) item(id int64) message.Item {
	c.t.Helper()
	var item message.Item
	if st := c.do("GET", fmt.Sprintf("/api/v1/items/%d", id), nil, nil, &item); st != http.StatusOK {
		c.t.Fatalf("get item %d: status %d", id, st)
	}
	return item
}

// order places an order, waiting up to wait seconds for its outcome, and
// returns the status and the order. An empty customer names none, as a
// customer with a token does.
func (c *client) order(item int64, qty int, customer string, wait int) (int, message.Order) {
	var o message.Order
	h := map[string]string{}
	if wait > 0 {
		h["Prefer"] = fmt.Sprintf("wait=%d", wait)
	}
	body := map[string]any{"item_id": item, "quantity": qty}
	if customer != "" {
		body["customer_id"] = customer
	}
	st := c.do("POST", "/api/v1/orders", body, h, &o)
	return st, o
}

// final polls an order until it is final.
func (c *client) final(id string) message.Order {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var o message.Order
		st := c.do("GET", "/api/v1/orders/"+id+"?wait=10", nil, nil, &o)
		if st == http.StatusOK && o.Final() {
			return o
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("order %s not final after 60 s (status %d, %+v)", id, st, o)
		}
	}
}

// payment sends the payment provider's signed webhook for an order paid with
// amount IDR, and returns the status and the outcome.
func (c *client) payment(event, orderID string, amount int64) (int, string) {
	c.t.Helper()
	body, err := json.Marshal(map[string]any{"event_id": event, "order_id": orderID, "status": "succeeded", "amount": amount, "currency": "IDR"})
	if err != nil {
		c.t.Fatal(err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(webhookSecret))
	mac.Write([]byte(ts + "." + string(body)))
	req, err := http.NewRequest("POST", c.base+"/api/v1/payments/webhook", bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Orderq-Signature", "t="+ts+",v1="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("webhook: %v", err)
	}
	defer resp.Body.Close()
	var out struct{ Outcome string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		c.t.Fatalf("webhook answer %d: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, out.Outcome
}

func TestIdempotencyKeyAcrossGateways(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	s.startWorker(nil)
	_, baseA := s.startGateway(nil)
	_, baseB := s.startGateway(nil)
	a, b := newClient(t, baseA, 1), newClient(t, baseB, 1)
	item := a.createItem("keyed", 5, 0)

	place := func(c *client, qty int, wait bool) (int, view) {
		h := map[string]string{"Idempotency-Key": "checkout-77"}
		if wait {
			h["Prefer"] = "wait=10"
		}
		var v view
		st := c.do("POST", "/api/v1/orders", map[string]any{"item_id": item.ID, "quantity": qty, "customer_id": "kim"}, h, &v)
		return st, v
	}
	st, first := place(a, 2, true)
	if st != http.StatusOK || first.Status != "confirmed" {
		t.Fatalf("first request: %d %s", st, first.Status)
	}
	tests := []struct {
		name   string
		qty    int
		wait   bool
		status int
	}{
		{"same body, waiting", 2, true, http.StatusOK},
		{"same body, not waiting", 2, false, http.StatusOK},
		{"other quantity, waiting", 3, true, http.StatusUnprocessableEntity},
		{"other quantity, not waiting", 3, false, http.StatusUnprocessableEntity},
	}
	for _, tt := range tests {
		st, v := place(b, tt.qty, tt.wait)
		if st != tt.status || (st == http.StatusOK && v.ID != first.ID) {
			t.Errorf("%s on the other gateway: %d %s, want %d with order %s", tt.name, st, v.ID, tt.status, first.ID)
		}
	}
	if stock, balance := s.ledger(item.ID); stock != 3 || balance != 3 {
		t.Errorf("stock %d, ledger %d; want 3: the key must stand for one order", stock, balance)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/mq"
	"github.com/orderq/orderq/shared/testenv"
)

// TestMain checks that nothing run started outlives it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	testSecret = "a-secret-of-thirty-two-bytes-or-more"
	testKey    = "a-storefront-key-of-thirty-two-bytes-or-more"
	testAdmin  = "an-admin-token-of-thirty-two-bytes-or-more"
	testShards = 2
)

// testEnv is a gateway's environment on a database and vhost of its own, with
// every listener on a free port.
func testEnv(t *testing.T) map[string]string {
	t.Helper()
	return map[string]string{
		"AMQP_URL": testenv.Vhost(t), "MYSQL_DSN": testenv.Database(t), "SHARDS": fmt.Sprint(testShards),
		"HTTP_ADDR": "127.0.0.1:0", "METRICS_ADDR": "127.0.0.1:0", "DEBUG_ADDR": "127.0.0.1:0",
		"STOREFRONT_API_KEYS": testKey, "ADMIN_TOKEN": testAdmin, "ORDER_ID_SECRET": testSecret,
		"RATE_LIMIT_PER_CUSTOMER": "0",
	}
}

// answer is what one request got: a status, or the error of a request that
// got none.
type answer struct {
	status int
	header http.Header
	body   []byte
	order  message.Order // of a 200 or 202
	err    error
}

func do(hc *http.Client, method, url, cred string, headers map[string]string, body any) answer {
	var buf bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&buf).Encode(body); err != nil {
			return answer{err: err}
		}
	}
	req, err := http.NewRequest(method, url, &buf)
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	if cred == testAdmin {
		req.Header.Set("Authorization", "Bearer "+cred)
	} else {
		req.Header.Set("X-API-Key", cred)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{err: err}
	}
	a := answer{status: resp.StatusCode, header: resp.Header, body: data}
	if a.status == http.StatusAccepted || a.status == http.StatusOK {
		if err := json.Unmarshal(data, &a.order); err != nil {
			a.err = fmt.Errorf("decode %s: %w", data, err)
		}
	}
	return a
}

// queued reads every command on the shard queues, by order id.
func queued(t *testing.T, url string) map[string]int {
	t.Helper()
	conn, err := mq.Dial(url, "gateway shutdown test")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for n := range testShards {
		// Quorum queues with a single active consumer serve no basic.get:
		// consume as many as the queue holds (nothing adds to it any more).
		queue := message.ShardQueue(n)
		q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if q.Messages == 0 {
			continue
		}
		deliveries, err := ch.Consume(queue, "", true, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		timeout := time.After(30 * time.Second)
		for range q.Messages {
			var d amqp.Delivery
			select {
			case d = <-deliveries:
			case <-timeout:
				t.Fatalf("%s: fewer than the %d messages it said it held", queue, q.Messages)
			}
			cmds, err := message.DecodeCommands(d.Body)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cmds {
				ids[c.ID]++
			}
		}
	}
	return ids
}

// TestRunShutsDownInOrderOnSIGTERM runs the gateway in-process, with no
// worker, under a crowd of orders and one request waiting for its order's
// outcome, and sends the process SIGTERM. run must return nil soon (the
// waiter does not hold it up: it is answered with the order pending), having
// stopped each stage once and in order; every order answered 202 must be on
// its shard queue, once, and every other answer a 503 with Retry-After or no
// answer at all (a connection refused once the listener closed). TestMain
// checks that nothing run started is still running.
func TestRunShutsDownInOrderOnSIGTERM(t *testing.T) {
	env := testEnv(t)
	log := testenv.NewLog(t)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	var runErr error
	ran := make(chan struct{})
	go func() { runErr = run(ctx, log.Logger, testenv.Env(env)); close(ran) }()
	t.Cleanup(func() {
		// A failed test must not leave run to the next one.
		stop()
		select {
		case <-ran:
		case <-time.After(time.Minute):
		}
	})
	base := "http://" + log.Await(t, "listening", time.Minute)["addr"].(string)
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	for a := do(hc, http.MethodGet, base+"/readyz", testKey, nil, nil); a.status != http.StatusOK; a = do(hc, http.MethodGet, base+"/readyz", testKey, nil, nil) {
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 30 s: %d %v", a.status, a.err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	item := do(hc, http.MethodPost, base+"/api/v1/items", testAdmin, nil, map[string]any{"name": "shutdown", "stock": 1000})
	if item.status != http.StatusCreated {
		t.Fatalf("create item: %d %v", item.status, item.err)
	}
	var it struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(item.body, &it); err != nil || it.ID == 0 {
		t.Fatalf("created item %s: %v", item.body, err)
	}

	order := func(customer, key string, wait bool) answer {
		h := map[string]string{"Idempotency-Key": key}
		if wait {
			h["Prefer"] = "wait=30"
		}
		return do(hc, http.MethodPost, base+"/api/v1/orders", testKey, h,
			map[string]any{"item_id": it.ID, "quantity": 1, "customer_id": customer})
	}
	// The waiter: no worker runs, so only the shutdown ends its wait.
	waited := make(chan answer, 1)
	go func() { waited <- order("waiter", "waiter-key", true) }()

	var (
		mu       sync.Mutex
		answers  []answer
		accepted atomic.Int64
		quit     atomic.Bool
		crowd    sync.WaitGroup
	)
	for c := range 8 {
		crowd.Go(func() {
			for i := 0; !quit.Load(); i++ {
				a := order(fmt.Sprintf("c-%d-%d", c, i), fmt.Sprintf("k-%d-%d", c, i), false)
				if a.status == http.StatusAccepted {
					accepted.Add(1)
				}
				mu.Lock()
				answers = append(answers, a)
				mu.Unlock()
				if a.err != nil {
					time.Sleep(10 * time.Millisecond) // refused: the gateway is gone
				}
			}
		})
	}
	for accepted.Load() < 200 {
		if time.Now().After(deadline.Add(30 * time.Second)) {
			t.Fatalf("%d orders accepted", accepted.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Well inside the HTTP drain's bound: a waiter must not hold it up.
	const bound = 10 * time.Second
	select {
	case <-ran:
		if runErr != nil {
			t.Fatalf("run: %v", runErr)
		}
	case <-time.After(bound):
		t.Fatalf("run did not return within %s of SIGTERM", bound)
	}
	quit.Store(true)
	crowd.Wait()
	hc.CloseIdleConnections()

	select {
	case a := <-waited:
		// Preference-Applied says it did wait, and the shutdown ended that.
		if a.err != nil || a.status != http.StatusAccepted || a.order.Final() || a.header.Get("Preference-Applied") != "wait=30" {
			t.Errorf("the waiting request got %d %v (%+v, %v), want 202 with its order pending, having waited", a.status, a.err, a.order, a.header)
		}
	default:
		t.Error("the waiting request is still waiting after run returned")
	}

	// Each stage once, last started first; "stopped" last.
	want := []string{"shutting down", "stopping http", "stopping intake", "stopping results subscription",
		"stopping broker connection", "stopping debug server", "stopping metrics server", "stopping tracing", "stopping database", "stopped"}
	var got []string
	for _, m := range log.Messages(t) {
		if slices.Contains(want, m) {
			got = append(got, m)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("shutdown logged %q, want %q", got, want)
	}

	onQueue := queued(t, env["AMQP_URL"])
	var ok, unavailable, lost int
	for _, a := range answers {
		switch {
		case a.err != nil:
			if !errors.Is(a.err, syscall.ECONNREFUSED) {
				t.Errorf("a request lost its answer: %v", a.err)
			}
			lost++
		case a.status == http.StatusAccepted:
			ok++
			if n := onQueue[a.order.ID]; n != 1 {
				t.Errorf("order %s answered 202 is on the queues %d times, want once", a.order.ID, n)
			}
		case a.status == http.StatusServiceUnavailable:
			unavailable++
			if a.header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		default:
			t.Errorf("answer %d during the shutdown; want 202 or 503", a.status)
		}
	}
	t.Logf("%d accepted, %d unavailable, %d refused; %d orders on the queues", ok, unavailable, lost, len(onQueue))
}

// TestRunFailsWhenTheAPICannotListen gives the gateway an HTTP address that is
// taken: run must return the listener's error, having stopped what it had
// started (TestMain checks).
func TestRunFailsWhenTheAPICannotListen(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	env := testEnv(t)
	env["HTTP_ADDR"] = taken.Addr().String()
	log := testenv.NewLog(t)
	ran := make(chan error, 1)
	go func() { ran <- run(context.Background(), log.Logger, testenv.Env(env)) }()
	select {
	case err := <-ran:
		if err == nil || !strings.Contains(err.Error(), "listen") {
			t.Fatalf("run = %v, want the listener's error", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("run did not return within a minute")
	}
	if msgs := log.Messages(t); msgs[len(msgs)-1] != "stopped" {
		t.Errorf("last logged %q, want \"stopped\"", msgs[len(msgs)-1])
	}
}

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/orderq/orderq/shared/shard"
	"github.com/orderq/orderq/shared/testenv"
)

// TestDashboardAndRulesOnALivePrometheus runs a real Prometheus (Debian's
// package) against a gateway, a worker and RabbitMQ's rabbitmq_prometheus
// plugin during a short crowd, with the rules loaded, and evaluates every
// expression of the rules and of the dashboard through Prometheus's HTTP
// API. Each must name only metrics and labels that exist: a typo or a
// renamed metric fails it.
//
// What must return a series:
//   - every dashboard query, whole;
//   - every recording rule's series, as Prometheus recorded it;
//   - every alert's expression without its comparisons: an alert is quiet
//     when all is well, so `a > 0.01` is evaluated as `a`, and each side of
//     an `and`/`or` on its own;
//   - every vector selector of any of these on its own, with its label
//     matchers: a misspelt metric or label inside an `or vector(0)`, or on
//     the quiet side of a comparison, fails too.
//
// The crowd is made to meet each condition a selector names: a 429 (a
// customer over its rate), a 5xx (a gateway whose database is cut off), a
// cancellation (a release). Prometheus must also find every target up and
// every rule evaluated without error, and each program's /metrics must pass
// `promtool check metrics`, which holds names and units to Prometheus's
// conventions.
func TestDashboardAndRulesOnALivePrometheus(t *testing.T) {
	t.Parallel()
	prometheus := promProgram(t, "prometheus")
	promtool := promProgram(t, "promtool")
	// rabbitmq_prometheus on a node of the test's own: plugins are never
	// enabled on the shared broker.
	node := testenv.StartRabbitMQ(t, nil, "", testenv.WithPrometheus(t))
	s := newSystem(t)
	s.env["AMQP_URL"] = fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", node.Port)

	w := s.startWorker(map[string]string{"INSTANCE": "worker-a"})
	g, base := s.startGateway(map[string]string{"INSTANCE": "gateway-a", "RATE_LIMIT_PER_CUSTOMER": "1,1"})
	dbProxy, dsn := s.proxyDatabase()
	cut, cutBase := s.startGateway(map[string]string{"INSTANCE": "gateway-b", "MYSQL_DSN": dsn})
	targets := map[string][]string{
		"orderq-gateway": {logged(g, "metrics"), logged(cut, "metrics")},
		"orderq-worker":  {logged(w, "metrics")},
	}
	prom := startPrometheus(t, prometheus, targets, fmt.Sprintf("127.0.0.1:%d", node.PrometheusPort))

	// A crowd on an item of every shard, so that every shard has batches,
	// a holder and stock to show.
	c := newClient(t, base, 16)
	var crowds []*crowd
	covered := map[int]bool{}
	for len(covered) < 4 {
		item := c.createItem(fmt.Sprintf("hot %d", len(crowds)), 150, 0)
		if n := shard.Of(item.ID, 4); !covered[n] {
			covered[n] = true
			cr := newCrowd(t, base, item.ID, 400, 4)
			crowds = append(crowds, cr)
			cr.start()
		}
		if len(crowds) > 40 {
			t.Fatal("40 items and not every shard has one")
		}
	}
	for _, cr := range crowds {
		cr.waitAccepted(100)
	}
	// A customer over RATE_LIMIT_PER_CUSTOMER (1 a second, bursts of 1):
	// 429. Its first order, confirmed, is canceled: a release for the worker.
	calm := c.createItem("calm", 10, 0)
	buyer := c.customer("eager")
	st1, first := buyer.order(calm.ID, 1, "", 0)
	if st, _ := buyer.order(calm.ID, 1, "", 0); st1 != http.StatusAccepted || st != http.StatusTooManyRequests {
		t.Fatalf("two orders of one customer at once: %d then %d, want 202 then 429", st1, st)
	}
	if o := buyer.final(first.ID); o.Status != "confirmed" {
		t.Fatalf("the calm item's order: %s, want confirmed", o.Status)
	}
	if st := buyer.do("POST", "/api/v1/orders/"+first.ID+"/cancel", nil, nil, nil); st != http.StatusOK {
		t.Fatalf("cancel: status %d", st)
	}
	// A gateway whose database is out of reach: 503 on /readyz.
	dbProxy.Cut()
	if st, _ := get(t, cutBase+"/readyz"); st != http.StatusServiceUnavailable {
		t.Fatalf("/readyz without a database: %d, want 503", st)
	}

	rules := readRules(t)
	queries := dashboardQueries(t)
	// Who is who: each process by its INSTANCE, and each gateway's results
	// queue by its instance's name, consumed.
	for _, q := range []string{
		`orderq_build_info{program="worker",instance_name="worker-a",job="orderq-worker"}`,
		`orderq_build_info{program="api-gateway",instance_name="gateway-a",job="orderq-gateway"}`,
		`orderq_build_info{program="api-gateway",instance_name="gateway-b",job="orderq-gateway"}`,
		`rabbitmq_detailed_queue_consumers{queue="orderq.results.gateway-a"} == 1`,
		`rabbitmq_detailed_queue_consumers{queue="orderq.results.gateway-b"} == 1`,
	} {
		queries = append(queries, panelQuery{Panel: "who is who", RefID: q, Expr: q})
	}
	var failures []string
	deadline := time.Now().Add(90 * time.Second)
	for {
		failures = prom.check(t, rules, queries)
		if len(failures) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	for _, f := range failures {
		t.Error(f)
	}
	if len(failures) == 0 {
		t.Logf("%d rules and %d queries (the dashboard's and who is who) return series", len(rules), len(queries))
	}

	for name, addr := range map[string]string{"gateway": logged(g, "metrics"), "worker": logged(w, "metrics")} {
		_, body := get(t, "http://"+addr+"/metrics")
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s's /metrics break Prometheus's conventions: %v\n%s", name, err, out)
		}
	}
	for _, cr := range crowds {
		cr.wait()
	}
}

// livePrometheus is a Prometheus server of the test's own.
type livePrometheus struct {
	url  string
	http *http.Client
}

// startPrometheus starts prometheus on a free port of 127.0.0.1, scraping
// targets by job every second, and rabbitmq (host:port of
// rabbitmq_prometheus) as deploy/prometheus/prometheus.yml does, with the
// rules of deploy/prometheus evaluated every second. It is stopped when the
// test ends.
func startPrometheus(t *testing.T, program string, targets map[string][]string, rabbitmq string) *livePrometheus {
	t.Helper()
	dir := t.TempDir()
	rules, _ := ruleFiles(t)
	var conf strings.Builder
	conf.WriteString("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files:\n")
	for _, r := range rules {
		abs, err := filepath.Abs(r)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&conf, "  - %q\n", abs)
	}
	conf.WriteString("scrape_configs:\n")
	for _, job := range slices.Sorted(maps.Keys(targets)) {
		fmt.Fprintf(&conf, "  - job_name: %s\n    static_configs:\n      - targets: [%s]\n", job, quoteAll(targets[job]))
	}
	fmt.Fprintf(&conf, "  - job_name: rabbitmq\n    static_configs:\n      - targets: [%q]\n", rabbitmq)
	fmt.Fprintf(&conf, "  - job_name: rabbitmq-queues\n    metrics_path: /metrics/detailed\n"+
		"    params:\n      family: [queue_coarse_metrics, queue_consumer_count]\n    static_configs:\n      - targets: [%q]\n", rabbitmq)
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cmd := exec.Command(program, "--config.file="+config, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("prometheus configuration:\n%s\nprometheus output:\n%s", conf.String(), out.String())
		}
	})
	p := &livePrometheus{url: "http://" + addr, http: &http.Client{Timeout: 10 * time.Second}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := p.http.Get(p.url + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-exited:
			t.Fatalf("prometheus exited:\n%s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 30 s:\n%s", out.String())
		}
	}
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// syncBuffer is a bytes.Buffer safe for a process's writes and the test's
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// api gets a path of Prometheus's HTTP API and decodes its data into out; it
// returns the error Prometheus gave, or why there was no answer.
func (p *livePrometheus) api(path string, out any) error {
	resp, err := p.http.Get(p.url + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var answer struct {
		Status, Error string
		Data          json.RawMessage
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return fmt.Errorf("%s: status %d: %w", path, resp.StatusCode, err)
	}
	if answer.Status != "success" {
		return fmt.Errorf("%s", answer.Error)
	}
	return json.Unmarshal(answer.Data, out)
}

// series evaluates expr now and returns how many series it returned.
func (p *livePrometheus) series(expr string) (int, error) {
	var data struct {
		ResultType string
		Result     json.RawMessage
	}
	if err := p.api("/api/v1/query?query="+url.QueryEscape(expr), &data); err != nil {
		return 0, err
	}
	if data.ResultType == "scalar" || data.ResultType == "string" {
		return 1, nil
	}
	var result []json.RawMessage
	if err := json.Unmarshal(data.Result, &result); err != nil {
		return 0, err
	}
	return len(result), nil
}

// check returns what is wrong now: a target down, a rule in error, or an
// expression (see TestDashboardAndRulesOnALivePrometheus) without a series.
func (p *livePrometheus) check(t *testing.T, rules []rule, queries []panelQuery) []string {
	t.Helper()
	var failures []string
	var targets struct {
		ActiveTargets []struct {
			ScrapeURL, Health, LastError string
		}
	}
	if err := p.api("/api/v1/targets", &targets); err != nil {
		return []string{"targets: " + err.Error()}
	}
	for _, tg := range targets.ActiveTargets {
		if tg.Health != "up" {
			failures = append(failures, fmt.Sprintf("target %s is %s: %s", tg.ScrapeURL, tg.Health, tg.LastError))
		}
	}
	var loaded struct {
		Groups []struct {
			Rules []struct{ Name, Health, LastError string }
		}
	}
	if err := p.api("/api/v1/rules", &loaded); err != nil {
		return append(failures, "rules: "+err.Error())
	}
	n := 0
	for _, g := range loaded.Groups {
		for _, r := range g.Rules {
			n++
			if r.Health != "ok" {
				failures = append(failures, fmt.Sprintf("rule %s is %s: %s", r.Name, r.Health, r.LastError))
			}
		}
	}
	if n != len(rules) {
		failures = append(failures, fmt.Sprintf("prometheus loaded %d rules, the files hold %d", n, len(rules)))
	}

	want := func(what, expr string) {
		switch n, err := p.series(expr); {
		case err != nil:
			failures = append(failures, fmt.Sprintf("%s: %s: %v", what, expr, err))
		case n == 0:
			failures = append(failures, fmt.Sprintf("%s: %s returns no series", what, expr))
		}
	}
	// Each vector selector on its own, as an instant vector.
	selectors := func(what, expr string) {
		e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
		if err != nil {
			failures = append(failures, fmt.Sprintf("%s: %v", what, err))
			return
		}
		parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
			if vs, ok := node.(*parser.VectorSelector); ok {
				want(what+", selector", vs.String())
			}
			return nil
		})
	}
	for _, r := range rules {
		if r.Record != "" {
			want(r.String(), r.Record)
		} else {
			for _, part := range withoutComparisons(t, r.Expr) {
				want(r.String()+", without its comparison", part)
			}
		}
		selectors(r.String(), r.Expr)
	}
	for _, q := range queries {
		want(q.String(), q.Expr)
		selectors(q.String(), q.Expr)
	}
	return failures
}

// withoutComparisons returns the terms of an alert's expression with their
// comparisons to a number taken off: `a > 1 and b == 0` gives a and b.
func withoutComparisons(t *testing.T, expr string) []string {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	var terms []string
	var strip func(parser.Expr)
	strip = func(e parser.Expr) {
		switch n := e.(type) {
		case *parser.ParenExpr:
			strip(n.Expr)
			return
		case *parser.BinaryExpr:
			switch {
			case n.Op == parser.LAND || n.Op == parser.LOR || n.Op == parser.LUNLESS:
				strip(n.LHS)
				strip(n.RHS)
				return
			case n.Op.IsComparisonOperator() && !n.ReturnBool && isNumber(n.RHS):
				strip(n.LHS)
				return
			case n.Op.IsComparisonOperator() && !n.ReturnBool && isNumber(n.LHS):
				strip(n.RHS)
				return
			}
		}
		terms = append(terms, e.String())
	}
	strip(e)
	return terms
}

func isNumber(e parser.Expr) bool {
	for {
		switch n := e.(type) {
		case *parser.ParenExpr:
			e = n.Expr
		case *parser.NumberLiteral:
			return true
		default:
			return false
		}
	}
}

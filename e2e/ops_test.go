package e2e

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// logged returns the address a process logged it listens on for what
// ("metrics", "debug"), or "" when it logged none.
func logged(p *process, what string) string {
	m := regexp.MustCompile(`"msg":"` + what + ` listening".*?"addr":"([^"]+)"`).FindStringSubmatch(p.output())
	if m == nil {
		return ""
	}
	return m[1]
}

// get returns the status and body of a GET, or fails the test.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// TestOperatorsEndpointsAreOffThePublicPort checks where each program serves
// its metrics and profiles: the gateway's metrics on METRICS_ADDR and never
// on its API port, profiles only on DEBUG_ADDR and only when it is set, on
// the gateway and the worker alike.
func TestOperatorsEndpointsAreOffThePublicPort(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	w := s.startWorker(nil)
	g, base := s.startGateway(nil)
	wd := s.startWorker(map[string]string{"DEBUG_ADDR": "127.0.0.1:0"})
	gd, based := s.startGateway(map[string]string{"DEBUG_ADDR": "127.0.0.1:0"})

	for _, p := range []*process{w, g} {
		if addr := logged(p, "debug"); addr != "" {
			t.Errorf("profiles served on %s without DEBUG_ADDR", addr)
		}
	}
	for _, api := range []string{base, based} {
		if st, body := get(t, api+"/metrics"); st != http.StatusNotFound || strings.Contains(body, "orderq_gateway") {
			t.Errorf("GET %s/metrics: %d %.200s; want 404, metrics are not the public's", api, st, body)
		}
		if st, _ := get(t, api+"/debug/pprof/"); st != http.StatusNotFound {
			t.Errorf("GET %s/debug/pprof/: %d, want 404", api, st)
		}
	}
	metrics := map[string]string{
		"gateway":                 "orderq_gateway_requests_total",
		"gateway with DEBUG_ADDR": "orderq_gateway_requests_total",
		"worker":                  "orderq_worker_dead_lettered_total",
		"worker with DEBUG_ADDR":  "orderq_worker_dead_lettered_total",
	}
	procs := map[string]*process{"gateway": g, "gateway with DEBUG_ADDR": gd, "worker": w, "worker with DEBUG_ADDR": wd}
	for name, p := range procs {
		addr := logged(p, "metrics")
		if addr == "" {
			t.Errorf("%s: no metrics address logged", name)
			continue
		}
		st, body := get(t, "http://"+addr+"/metrics")
		if st != http.StatusOK || !strings.Contains(body, metrics[name]) || !strings.Contains(body, "process_resident_memory_bytes") {
			t.Errorf("%s: GET %s/metrics: %d %.200s", name, addr, st, body)
		}
		if st, _ := get(t, "http://"+addr+"/debug/pprof/"); st != http.StatusNotFound {
			t.Errorf("%s: profiles on the metrics address (%d)", name, st)
		}
	}
	for name, p := range map[string]*process{"gateway": gd, "worker": wd} {
		addr := logged(p, "debug")
		if addr == "" {
			t.Errorf("%s with DEBUG_ADDR: no debug address logged", name)
			continue
		}
		if st, body := get(t, "http://"+addr+"/debug/pprof/"); st != http.StatusOK || !strings.Contains(body, "goroutine") {
			t.Errorf("%s: GET %s/debug/pprof/: %d %.200s", name, addr, st, body)
		}
		if st, body := get(t, "http://"+addr+"/debug/pprof/trace?seconds=0.1"); st != http.StatusOK || len(body) == 0 {
			t.Errorf("%s: execution trace: %d, %d bytes", name, st, len(body))
		}
	}
}

// TestBrokerSaysWhoIsWho checks that the broker's consumer list names each
// process by its INSTANCE: every shard's consumer says which worker holds or
// watches it, each gateway's results queue and consumer say whose they are,
// within a bounded prefetch; and that a second gateway started with the
// same INSTANCE is warned, and subscribes under another name.
func TestBrokerSaysWhoIsWho(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	s.startWorker(map[string]string{"INSTANCE": "worker-7"})
	s.startGateway(map[string]string{"INSTANCE": "gateway-7"})
	// A consumer as the management API lists it.
	type consumer struct{ Tag, Queue string }
	want := map[consumer]int{ // prefetch
		{"orderq-gateway/gateway-7/results", "orderq.results.gateway-7"}: 256,
	}
	for n := range 4 {
		want[consumer{fmt.Sprintf("orderq-worker/worker-7/shard-%d", n), fmt.Sprintf("orderq.orders.%d", n)}] = 1000
	}
	wantConns := []string{"orderq-gateway gateway-7", "orderq-gateway-results gateway-7",
		"orderq-worker worker-7", "orderq-worker-outbox worker-7", "orderq-worker-results worker-7"}
	got := map[consumer]int{}
	var conns []string
	deadline := time.Now().Add(30 * time.Second)
	for (!maps.Equal(got, want) || !slices.Equal(conns, wantConns)) && time.Now().Before(deadline) {
		// The management API's lists trail the broker by a few seconds.
		time.Sleep(500 * time.Millisecond)
		var consumers []struct {
			Tag      string `json:"consumer_tag"`
			Prefetch int    `json:"prefetch_count"`
			Queue    struct{ Name string }
		}
		s.management("/api/consumers/{vhost}", &consumers)
		clear(got)
		for _, c := range consumers {
			got[consumer{c.Tag, c.Queue.Name}] = c.Prefetch
		}
		var connections []struct {
			Name string `json:"user_provided_name"`
		}
		s.management("/api/vhosts/{vhost}/connections", &connections)
		conns = conns[:0]
		for _, c := range connections {
			conns = append(conns, c.Name)
		}
		slices.Sort(conns)
	}
	if !maps.Equal(got, want) {
		t.Errorf("consumers (tag, queue: prefetch) %v, want %v", got, want)
	}
	if !slices.Equal(conns, wantConns) {
		t.Errorf("connections %q, want %q", conns, wantConns)
	}

	// A second gateway named alike is warned, and gets its results all the
	// same, through a queue of another name, still the instance's.
	twin, _ := s.startGateway(map[string]string{"INSTANCE": "gateway-7"})
	warned := regexp.MustCompile(`"msg":"results queue held by another connection: is INSTANCE used by another gateway\? Using another name".*"instead":"orderq\.results\.gateway-7\.[0-9a-f]{8}"`)
	subscribed := regexp.MustCompile(`"msg":"results subscribed".*"queue":"orderq\.results\.gateway-7\.[0-9a-f]{8}"`)
	eventually(t, func() bool { return warned.MatchString(twin.output()) && subscribed.MatchString(twin.output()) })
}

package httpapi

import (
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestMetricsGoToTheCallersRegistry checks that the API records its metrics
// on the registry main serves on METRICS_ADDR, and serves none itself.
func TestMetricsGoToTheCallersRegistry(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	ts := newTestServer(t, nil, func(c *Config) { c.Registry = reg })
	if rec := ts.serve(t, http.MethodGet, "/healthz", "", nil); rec.Code != http.StatusOK {
		t.Fatalf("/healthz: status %d", rec.Code)
	}
	if rec := ts.serve(t, http.MethodGet, "/metrics", "", nil); rec.Code != http.StatusNotFound {
		t.Errorf("/metrics on the API: status %d, want 404", rec.Code)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, f := range families {
		if f.GetName() != "orderq_gateway_requests_total" {
			found[f.GetName()] = true
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" {
					found["requests for "+l.GetValue()] = m.GetCounter().GetValue() > 0
				}
			}
		}
	}
	for _, want := range []string{"requests for /healthz", "requests for unmatched", "orderq_gateway_request_seconds",
		"orderq_gateway_requests_in_flight", "orderq_gateway_waiters", "orderq_gateway_orders_canceled_total", "process_resident_memory_bytes", "go_goroutines"} {
		if !found[want] {
			t.Errorf("the registry lacks %s; it has %v", want, found)
		}
	}
}

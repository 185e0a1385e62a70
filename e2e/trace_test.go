package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/shard"
	"github.com/orderq/orderq/shared/testenv/otlp"
)

// TestOneOrderIsOneTrace: an order a storefront places within a trace of
// its own is one trace across the gateway and the worker, one tree of
// spans below the storefront's: the gateway's request, its send to the
// shard queue, the worker's process of the command and its transaction,
// and the gateway's receipt of the result, which answers the request.
// The programs export over OTLP/HTTP to a receiver the test serves, and
// flush at exit. They keep no trace a request starts (a ratio of 0): an
// order without a traceparent leaves no span at all.
func TestOneOrderIsOneTrace(t *testing.T) {
	t.Parallel()
	receiver := otlp.NewReceiver(t)
	s := newSystem(t)
	tracing := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.URL,
		"OTEL_TRACES_SAMPLER":         "parentbased_traceidratio",
		"OTEL_TRACES_SAMPLER_ARG":     "0",
	}
	worker := s.startWorker(tracing)
	gateway, base := s.startGateway(tracing)
	c := newClient(t, base, 1)
	item := c.createItem("traced", 1, 0)

	const storefrontTrace, storefrontSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	var o message.Order
	st := c.do("POST", "/api/v1/orders", map[string]any{"item_id": item.ID, "customer_id": "c-traced"},
		map[string]string{"Prefer": "wait=10", "traceparent": "00-" + storefrontTrace + "-" + storefrontSpan + "-01"}, &o)
	if st != http.StatusOK || o.Status != orderstatus.Confirmed {
		t.Fatalf("traced order: %d %+v, want 200 and confirmed", st, o)
	}
	if st, o := c.order(item.ID, 1, "c-untraced", 10); st != http.StatusOK || o.Status != orderstatus.Rejected {
		t.Fatalf("untraced order: %d %+v, want 200 and rejected", st, o)
	}
	// The spans a program holds are exported when it stops.
	for name, p := range map[string]*process{"gateway": gateway, "worker": worker} {
		if err := p.stop(syscall.SIGTERM); err != nil {
			t.Fatalf("stop the %s: %v", name, err)
		}
	}

	processSpan := "process " + message.ShardQueue(shard.Of(item.ID, 4)) // SHARDS of newSystem
	want := []struct {
		service, name, parent string
		kind                  tracepb.Span_SpanKind
	}{
		{"api-gateway", "POST /api/v1/orders", "storefront", tracepb.Span_SPAN_KIND_SERVER},
		{"api-gateway", "send orderq.orders", "POST /api/v1/orders", tracepb.Span_SPAN_KIND_PRODUCER},
		{"worker", processSpan, "send orderq.orders", tracepb.Span_SPAN_KIND_CONSUMER},
		{"worker", "apply batch", processSpan, tracepb.Span_SPAN_KIND_INTERNAL},
		{"api-gateway", "receive orderq.results", processSpan, tracepb.Span_SPAN_KIND_CONSUMER},
	}
	spans := receiver.Spans()
	var summary strings.Builder
	for _, sp := range spans {
		fmt.Fprintf(&summary, "\n  %s %s %q span %s parent %s %v", sp.Service, sp.TraceID, sp.Name, sp.SpanID, sp.Parent, sp.Attributes)
	}
	if len(spans) != len(want) {
		t.Fatalf("received %d spans, want %d, all of the traced order:%s", len(spans), len(want), summary.String())
	}
	byName := map[string]otlp.Span{"storefront": {SpanID: storefrontSpan}}
	for _, sp := range spans {
		byName[sp.Name] = sp
	}
	for _, w := range want {
		sp, ok := byName[w.name]
		switch {
		case !ok:
			t.Errorf("no span %q:%s", w.name, summary.String())
		case sp.TraceID != storefrontTrace:
			t.Errorf("span %q in trace %s, want the storefront's %s", w.name, sp.TraceID, storefrontTrace)
		case sp.Parent != byName[w.parent].SpanID:
			t.Errorf("span %q has parent %s, want %q's (%s):%s", w.name, sp.Parent, w.parent, byName[w.parent].SpanID, summary.String())
		case sp.Service != w.service || sp.Kind != w.kind:
			t.Errorf("span %q from %s of kind %v, want from %s of kind %v", w.name, sp.Service, sp.Kind, w.service, w.kind)
		case sp.StatusError:
			t.Errorf("span %q failed: %s", w.name, sp.StatusMessage)
		}
	}
	for _, name := range []string{processSpan, "receive orderq.results"} {
		if sp := byName[name]; sp.Attributes["orderq.command.id"] != o.ID || sp.Attributes["orderq.order.status"] != "confirmed" {
			t.Errorf("span %q attributes %v, want order %s confirmed", name, sp.Attributes, o.ID)
		}
	}
}

package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/tracing"
)

// TestRequestSpans: with a tracer, an API request gets a server span named
// by its route that continues the storefront's traceparent, and the
// intake is handed that span's context; health checks get none.
func TestRequestSpans(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	var mu sync.Mutex
	var submitted trace.SpanContext
	ts := newTestServer(t, testDB(t), func(c *Config) { c.Tracer = tracing.New(tp) })
	ts.sub.submit = func(ctx context.Context, _ message.Command) error {
		mu.Lock()
		defer mu.Unlock()
		submitted = trace.SpanContextFromContext(ctx)
		return nil
	}
	item := ts.createItem(t, "traced", 5, 0)

	const storefrontTrace, storefrontSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	header := map[string]string{"Authorization": "", "X-API-Key": testStorefrontKey,
		"traceparent": "00-" + storefrontTrace + "-" + storefrontSpan + "-01"}
	if rec := ts.serve(t, "POST", "/api/v1/orders", fmt.Sprintf(`{"item_id": %d, "customer_id": "c-1"}`, item.ID), header); rec.Code != http.StatusAccepted {
		t.Fatalf("order: %d %s", rec.Code, rec.Body)
	}
	if rec := ts.serve(t, "GET", "/healthz", "", nil); rec.Code != http.StatusOK {
		t.Fatalf("healthz: %d", rec.Code)
	}

	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want the order's alone: %v", len(spans), spans)
	}
	s := spans[0]
	switch {
	case s.Name != "POST /api/v1/orders" || s.SpanKind != trace.SpanKindServer:
		t.Errorf("span %q of kind %v, want the server span POST /api/v1/orders", s.Name, s.SpanKind)
	case s.SpanContext.TraceID().String() != storefrontTrace || s.Parent.SpanID().String() != storefrontSpan:
		t.Errorf("span in trace %s with parent %s, want the storefront's trace %s and span %s",
			s.SpanContext.TraceID(), s.Parent.SpanID(), storefrontTrace, storefrontSpan)
	}
	attrs := map[string]string{}
	for _, kv := range s.Attributes {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	if attrs["http.route"] != "/api/v1/orders" || attrs["http.response.status_code"] != "202" || attrs["http.request.method"] != "POST" {
		t.Errorf("span attributes %v, want its route, method and status", attrs)
	}
	mu.Lock()
	defer mu.Unlock()
	if submitted.SpanID() != s.SpanContext.SpanID() {
		t.Errorf("the intake got span %s, want the request's %s", submitted.SpanID(), s.SpanContext.SpanID())
	}
}

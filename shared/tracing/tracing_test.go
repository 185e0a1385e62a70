package tracing

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderq/orderq/shared/config"
	"github.com/orderq/orderq/shared/testenv"
	"github.com/orderq/orderq/shared/testenv/otlp"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestSamplerTakesEveryConfiguredName(t *testing.T) {
	want := map[string]string{
		"always_on":                "AlwaysOnSampler",
		"always_off":               "AlwaysOffSampler",
		"traceidratio":             "TraceIDRatioBased{0.25}",
		"parentbased_always_on":    "ParentBased{root:AlwaysOnSampler,remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}",
		"parentbased_always_off":   "ParentBased{root:AlwaysOffSampler,remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}",
		"parentbased_traceidratio": "ParentBased{root:TraceIDRatioBased{0.25},remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}",
	}
	for _, name := range config.Samplers {
		t.Run(name, func(t *testing.T) {
			if got := Sampler(name, 0.25).Description(); got != want[name] {
				t.Errorf("Sampler(%q) = %s, want %s", name, got, want[name])
			}
		})
	}
	if len(want) != len(config.Samplers) {
		t.Errorf("config takes %d samplers, this test knows %d", len(config.Samplers), len(want))
	}
}

func TestTracesURL(t *testing.T) {
	for endpoint, want := range map[string]string{
		"http://collector:4318":        "http://collector:4318/v1/traces",
		"http://collector:4318/":       "http://collector:4318/v1/traces",
		"https://vendor.example/otlp/": "https://vendor.example/otlp/v1/traces",
	} {
		if got := TracesURL(endpoint); got != want {
			t.Errorf("TracesURL(%q) = %q, want %q", endpoint, got, want)
		}
	}
}

// recorded returns a Tracer of an SDK provider with sampler, and what it
// records.
func recorded(t *testing.T, sampler sdktrace.Sampler) (*Tracer, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sampler))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return New(tp), exp
}

func TestHeadersCarrySampledContextsByIndex(t *testing.T) {
	tr, _ := recorded(t, sdktrace.AlwaysSample())
	off, _ := recorded(t, sdktrace.NeverSample())
	_, first := tr.Start(context.Background(), "first")
	_, unsampled := off.Start(context.Background(), "unsampled")
	_, third := tr.Start(context.Background(), "third")

	var headers amqp.Table
	headers = tr.Inject(headers, 1, unsampled)
	if headers != nil {
		t.Fatalf("an unsampled span made headers %v", headers)
	}
	headers = tr.Inject(headers, 0, first)
	headers = tr.Inject(headers, 2, third)
	// What RabbitMQ carries must pass the client's check of a table.
	if err := headers.Validate(); err != nil {
		t.Fatalf("headers %v: %v", headers, err)
	}

	got := map[int]trace.SpanContext{}
	tr.Each(headers, 3, func(i int, parent context.Context) { got[i] = trace.SpanContextFromContext(parent) })
	if len(got) != 2 {
		t.Fatalf("contexts at %v, want at 0 and 2", got)
	}
	for i, span := range map[int]trace.Span{0: first, 2: third} {
		want := span.SpanContext()
		if g := got[i]; g.TraceID() != want.TraceID() || g.SpanID() != want.SpanID() || !g.IsSampled() || !g.IsRemote() {
			t.Errorf("index %d: got %v, want the remote, sampled context of %v", i, g, want)
		}
	}

	// Only indexes of the body count: a results message with fewer entries
	// than its header names is read for what it has.
	n := 0
	tr.Each(headers, 1, func(int, context.Context) { n++ })
	if n != 1 {
		t.Errorf("with 1 command, %d contexts read, want 1", n)
	}
}

func TestEachSkipsWhatItCannotRead(t *testing.T) {
	tr, _ := recorded(t, sdktrace.AlwaysSample())
	valid := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for name, headers := range map[string]amqp.Table{
		"no header":          nil,
		"header not a table": {Header: "0=" + valid},
		"index not a number": {Header: amqp.Table{"first": amqp.Table{"traceparent": valid}}},
		"negative index":     {Header: amqp.Table{"-1": amqp.Table{"traceparent": valid}}},
		"index too large":    {Header: amqp.Table{"5": amqp.Table{"traceparent": valid}}},
		"entry not a table":  {Header: amqp.Table{"0": valid}},
		"bad traceparent":    {Header: amqp.Table{"0": amqp.Table{"traceparent": "00-zz-00f067aa0ba902b7-01"}}},
	} {
		t.Run(name, func(t *testing.T) {
			tr.Each(headers, 2, func(i int, _ context.Context) { t.Errorf("read a context at %d", i) })
		})
	}
	t.Run("bytes", func(t *testing.T) {
		n := 0
		tr.Each(amqp.Table{Header: amqp.Table{"1": amqp.Table{"traceparent": []byte(valid)}}}, 2, func(i int, _ context.Context) { n++ })
		if n != 1 {
			t.Errorf("read %d contexts from a traceparent in bytes, want 1", n)
		}
	})
}

func TestSetupOffWithoutEndpoint(t *testing.T) {
	tr, closeTracing, err := Setup(context.Background(), config.Tracing{Sampler: config.DefaultSampler, SamplerArg: 1}, "worker", quiet)
	if err != nil {
		t.Fatal(err)
	}
	if tr != nil {
		t.Errorf("tracer %v without an endpoint, want none", tr)
	}
	if err := closeTracing(); err != nil {
		t.Errorf("close: %v", err)
	}
}

// TestSetupExportsOverOTLP: the spans of a tracer Setup made reach an
// OTLP/HTTP receiver at the endpoint's /v1/traces by the time close
// returns, described by the program's resource.
func TestSetupExportsOverOTLP(t *testing.T) {
	tests := []struct {
		name        string
		cfg         config.Tracing
		wantService string
		wantSpans   int
	}{
		{name: "the program's name", cfg: config.Tracing{Sampler: "parentbased_always_on", SamplerArg: 1}, wantService: "worker", wantSpans: 1},
		{name: "a service name in the resource", wantService: "from-resource", wantSpans: 1,
			cfg: config.Tracing{Sampler: "always_on", SamplerArg: 1, Resource: []config.Attribute{{Key: "service.name", Value: "from-resource"}, {Key: "deployment.environment.name", Value: "test"}}}},
		{name: "OTEL_SERVICE_NAME wins", wantService: "from-variable", wantSpans: 1,
			cfg: config.Tracing{Sampler: "always_on", SamplerArg: 1, ServiceName: "from-variable", Resource: []config.Attribute{{Key: "service.name", Value: "from-resource"}}}},
		{name: "a ratio of 0 keeps nothing", cfg: config.Tracing{Sampler: "parentbased_traceidratio", SamplerArg: 0}, wantSpans: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			receiver := otlp.NewReceiver(t)
			tt.cfg.Endpoint = receiver.URL
			tr, closeTracing, err := Setup(context.Background(), tt.cfg, "worker", quiet)
			if err != nil {
				t.Fatal(err)
			}
			_, span := tr.Start(context.Background(), "a span")
			span.End()
			if err := closeTracing(); err != nil {
				t.Fatalf("close: %v", err)
			}
			spans := receiver.Spans()
			if len(spans) != tt.wantSpans {
				t.Fatalf("received %d spans, want %d: %+v", len(spans), tt.wantSpans, spans)
			}
			if tt.wantSpans == 0 {
				return
			}
			got := spans[0]
			if got.Name != "a span" || got.Service != tt.wantService || got.Resource["service.instance.id"] == "" {
				t.Errorf("received %q from service %q (resource %v), want %q from %q with an instance id",
					got.Name, got.Service, got.Resource, "a span", tt.wantService)
			}
			for _, a := range tt.cfg.Resource {
				if a.Key != "service.name" && got.Resource[a.Key] != a.Value {
					t.Errorf("resource %v, want %s=%s", got.Resource, a.Key, a.Value)
				}
			}
		})
	}
}

func TestCarrier(t *testing.T) {
	c := Carrier{}
	c.Set("traceparent", "x")
	c.Set("tracestate", "y")
	if c.Get("traceparent") != "x" || c.Get("missing") != "" {
		t.Errorf("carrier %v", c)
	}
	keys := c.Keys()
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"traceparent", "tracestate"}) {
		t.Errorf("keys %v", keys)
	}
}

// TestCloseWithTheReceiverGone: spans that cannot be exported at exit are
// logged, and close returns nil within FlushTimeout: a program stops as
// cleanly with its receiver out of reach.
func TestCloseWithTheReceiverGone(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens there any more
	log := testenv.NewLog(t)
	tr, closeTracing, err := Setup(context.Background(), config.Tracing{Endpoint: srv.URL, Sampler: "always_on", SamplerArg: 1}, "worker", log.Logger)
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.Start(context.Background(), "lost")
	span.End()
	start := time.Now()
	if err := closeTracing(); err != nil {
		t.Errorf("close: %v, want nil", err)
	}
	if took := time.Since(start); took > FlushTimeout+time.Second {
		t.Errorf("close took %s, want at most %s", took, FlushTimeout)
	}
	// The SDK reports a failed export through the handler Setup gives it;
	// one that outlasts the flush, through close.
	for _, r := range log.Records(t) {
		if r["msg"] == "tracing" || r["msg"] == "spans not exported at exit" {
			return
		}
	}
	t.Error("the spans lost were not logged")
}

// Package tracing is orderq's OpenTelemetry tracing: the tracer a program
// sets up from its config.Tracing, exporting over OTLP/HTTP, and the W3C
// trace contexts that travel with commands and results in AMQP headers.
//
// # Off costs nothing
//
// Without an endpoint there is no Tracer: Setup returns nil, and the programs
// check for nil before they make a span or a header, so a program that does
// not trace does none of that work on its hot paths.
//
// # Trace contexts in AMQP headers
//
// A message on a shard queue carries the commands of several orders, and a
// results message the outcomes of a whole batch, while each order has a
// trace of its own. So a message's trace contexts travel in one header,
// [Header]: a table from the index of a command (or result) in the body, in
// decimal, to a table of its W3C trace context (traceparent, and tracestate
// when there is one). Only sampled ones are there, and a message with none
// has no such header. The body is not touched: a program that does not know
// the header reads the message as before, and message.Version stays.
package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderq/orderq/shared/config"
	"github.com/orderq/orderq/shared/message"
)

// Header is the AMQP header that carries the trace contexts of a message's
// commands or results.
const Header = "orderq-trace"

// Tracer makes a program's spans and carries their contexts across the
// broker. A nil *Tracer is tracing off; its methods must not be called.
type Tracer struct {
	provider trace.TracerProvider
	tracer   trace.Tracer
	prop     propagation.TextMapPropagator
}

// New returns a Tracer whose spans tp makes.
func New(tp trace.TracerProvider) *Tracer {
	return &Tracer{provider: tp, tracer: tp.Tracer("github.com/orderq/orderq"), prop: propagation.TraceContext{}}
}

// FlushTimeout bounds the export of the spans a program still holds when
// it stops.
const FlushTimeout = 5 * time.Second

// Setup returns the Tracer of the program named service, and a close that
// exports the spans not yet exported, within FlushTimeout, and stops the
// exporter: call it once nothing makes spans any more. Without
// cfg.Endpoint it returns a nil Tracer and a close that does nothing.
// Errors of the export (a receiver out of reach), then or before, are
// logged to log and never returned: spans are not a reason for a program
// to fail, nor to exit with an error.
func Setup(ctx context.Context, cfg config.Tracing, service string, log *slog.Logger) (*Tracer, func() error, error) {
	if cfg.Endpoint == "" {
		return nil, func() error { return nil }, nil
	}
	// The exporter reads the other OTEL_EXPORTER_OTLP_ variables (headers,
	// timeout, compression, certificates) itself; the endpoint given here
	// wins over its own reading of the endpoint variables.
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(TracesURL(cfg.Endpoint)))
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: %w", err)
	}
	res, err := resource.New(ctx, resource.WithTelemetrySDK(), resource.WithAttributes(resourceAttributes(cfg, service)...))
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: %w", err)
	}
	// The SDK reports what goes wrong in the background through one
	// process-wide handler; a program has one logger for it.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("tracing", "err", err) }))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res),
		sdktrace.WithSampler(Sampler(cfg.Sampler, cfg.SamplerArg)))
	closeTracing := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), FlushTimeout)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			log.Warn("spans not exported at exit", "err", err)
		}
		return nil
	}
	return New(tp), closeTracing, nil
}

// TracesURL is where an OTLP/HTTP receiver at endpoint, a base URL, takes
// spans: its path with /v1/traces added, as the specification says.
func TracesURL(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return endpoint // config.LoadTracing refused it already
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	return u.String()
}

// resourceAttributes describe the program: its service name (OTEL_SERVICE_NAME,
// else one given in OTEL_RESOURCE_ATTRIBUTES, else service), an instance id
// of its own (a process's, unless OTEL_RESOURCE_ATTRIBUTES names one: two
// gateways on one host are two instances) and the host's name. A later
// attribute with the same key wins.
func resourceAttributes(cfg config.Tracing, service string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{semconv.ServiceName(service), semconv.ServiceInstanceID(uuid.NewString())}
	if host, err := os.Hostname(); err == nil {
		attrs = append(attrs, semconv.HostName(host))
	}
	for _, a := range cfg.Resource {
		attrs = append(attrs, attribute.String(a.Key, a.Value))
	}
	if cfg.ServiceName != "" {
		attrs = append(attrs, semconv.ServiceName(cfg.ServiceName))
	}
	return attrs
}

// Sampler is the sampler named by OTEL_TRACES_SAMPLER (one of
// config.Samplers), with ratio OTEL_TRACES_SAMPLER_ARG for those that take
// one.
func Sampler(name string, ratio float64) sdktrace.Sampler {
	switch name {
	case "always_on":
		return sdktrace.AlwaysSample()
	case "always_off":
		return sdktrace.NeverSample()
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio)
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample())
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))
	}
	return sdktrace.ParentBased(sdktrace.AlwaysSample())
}

// Provider is the tracer provider, for instrumentation that takes one.
func (t *Tracer) Provider() trace.TracerProvider { return t.provider }

// Propagator reads and writes W3C trace context, for instrumentation that
// takes one.
func (t *Tracer) Propagator() propagation.TextMapPropagator { return t.prop }

// Start starts a span, as trace.Tracer's Start does.
func (t *Tracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	return t.tracer.Start(ctx, name, opts...)
}

// Inject records span's context in headers as that of the command or result
// at index i of the body, if span is sampled, and returns headers (made when
// nil and needed).
func (t *Tracer) Inject(headers amqp.Table, i int, span trace.Span) amqp.Table {
	sc := span.SpanContext()
	if !sc.IsSampled() {
		return headers
	}
	if headers == nil {
		headers = amqp.Table{}
	}
	byIndex, _ := headers[Header].(amqp.Table)
	if byIndex == nil {
		byIndex = amqp.Table{}
		headers[Header] = byIndex
	}
	c := Carrier{}
	t.prop.Inject(trace.ContextWithSpanContext(context.Background(), sc), c)
	byIndex[strconv.Itoa(i)] = amqp.Table(c)
	return headers
}

// Each calls fn for every index below n whose trace context headers carry,
// with a context that holds it as the remote parent of the spans fn starts.
// What it cannot read (another program's header, a bad index) it skips:
// a trace is never a reason to refuse a message.
func (t *Tracer) Each(headers amqp.Table, n int, fn func(i int, parent context.Context)) {
	byIndex, _ := headers[Header].(amqp.Table)
	for k, v := range byIndex {
		i, err := strconv.Atoi(k)
		c, ok := v.(amqp.Table)
		if err != nil || i < 0 || i >= n || !ok {
			continue
		}
		parent := t.prop.Extract(context.Background(), Carrier(c))
		if trace.SpanContextFromContext(parent).IsValid() {
			fn(i, parent)
		}
	}
}

// Carrier is a propagation.TextMapCarrier over an AMQP header table.
type Carrier amqp.Table

// Get returns the value of key, a string or bytes, or "".
func (c Carrier) Get(key string) string {
	switch v := c[key].(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return ""
}

// Set sets key to value.
func (c Carrier) Set(key, value string) { c[key] = value }

// Keys returns the keys set.
func (c Carrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Command describes a command on its spans: its kind and id (an order's
// id, for the commands of orders).
func Command(kind message.Kind, id string) []attribute.KeyValue {
	return []attribute.KeyValue{attribute.String("orderq.command.kind", string(kind)), attribute.String("orderq.command.id", id)}
}

// Outcome describes a command's result on its spans: the order's status and
// why it was rejected, or why a stock change or deletion was refused.
func Outcome(r message.Result) []attribute.KeyValue {
	var attrs []attribute.KeyValue
	if o := r.Order; o != nil {
		attrs = append(attrs, attribute.String("orderq.order.status", string(o.Status)))
		if o.Reason != nil {
			attrs = append(attrs, attribute.String("orderq.order.reason", *o.Reason))
		}
	}
	if r.Error != "" {
		attrs = append(attrs, attribute.String("orderq.command.error", r.Error))
	}
	return attrs
}

package results

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/mq"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/testenv"
	"github.com/orderq/orderq/shared/tracing"
)

// TestReceiveSpanContinuesTheWorkersTrace: a results message from the
// broker whose header carries the trace of one of its results gives that
// result a receive span, a child of the worker's span, and the others none.
func TestReceiveSpanContinuesTheWorkersTrace(t *testing.T) {
	url := testenv.Vhost(t)
	log := testenv.NewLog(t)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	tr := tracing.New(tp)

	cache := NewCache()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { Subscribe(ctx, url, "orderq-test-results", cache, tr, log.Logger); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	log.Await(t, "results subscribed", 30*time.Second)

	now := time.Now().UTC()
	decided := func(id string) message.Result {
		return message.Result{Kind: message.KindOrder, ID: id,
			Order: &message.Order{ID: id, CustomerID: "c", Status: orderstatus.Confirmed, CreatedAt: now, UpdatedAt: now}}
	}
	untraced, traced := uuid.NewString(), uuid.NewString()
	body, err := message.EncodeResults([]message.Result{decided(untraced), decided(traced)})
	if err != nil {
		t.Fatal(err)
	}
	_, worker := tr.Start(context.Background(), "worker's span")
	worker.End()

	conn, err := mq.Dial(url, "orderq-test-publisher")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.PublishWithContext(t.Context(), message.ResultsExchange, "", false, false, amqp.Publishing{
		ContentType: message.ContentType, Headers: tr.Inject(nil, 1, worker), Body: body,
	}); err != nil {
		t.Fatal(err)
	}
	if _, ok := cache.Wait(t.Context(), traced, 10*time.Second, time.Second, nil); !ok {
		t.Fatal("the result did not arrive")
	}

	// The receive spans end once the cache has the results, which is what
	// woke Wait: wait for them to be exported.
	receiveSpans := func() []tracetest.SpanStub {
		var receives []tracetest.SpanStub
		for _, s := range exp.GetSpans() {
			if s.Name == ReceiveSpan {
				receives = append(receives, s)
			}
		}
		return receives
	}
	for deadline := time.Now().Add(5 * time.Second); len(receiveSpans()) == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // a second span, were there one, would have ended by now
	receives := receiveSpans()
	if len(receives) != 1 {
		t.Fatalf("%d receive spans, want the traced result's alone", len(receives))
	}
	s := receives[0]
	if s.Parent.SpanID() != worker.SpanContext().SpanID() || s.SpanContext.TraceID() != worker.SpanContext().TraceID() ||
		s.SpanKind != trace.SpanKindConsumer {
		t.Errorf("receive span of kind %v with parent %v, want a consumer span, child of the worker's %v", s.SpanKind, s.Parent, worker.SpanContext())
	}
	want := map[string]string{"orderq.command.id": traced, "orderq.order.status": "confirmed"}
	for _, kv := range s.Attributes {
		if w, ok := want[string(kv.Key)]; ok && kv.Value.Emit() == w {
			delete(want, string(kv.Key))
		}
	}
	if len(want) > 0 {
		t.Errorf("receive span attributes %v lack %v", s.Attributes, want)
	}
}

package consumer

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/shard"
	"github.com/orderq/orderq/shared/tracing"
)

// recordedTracer returns a Tracer that samples as the programs do by
// default, and what it records.
func recordedTracer(t *testing.T) (*tracing.Tracer, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return tracing.New(tp), exp
}

// awaitSpans waits until exp recorded n spans named name, and returns them
// by their command's id.
func awaitSpans(t *testing.T, exp *tracetest.InMemoryExporter, name string, n int) map[string]tracetest.SpanStub {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := map[string]tracetest.SpanStub{}
		for _, s := range exp.GetSpans() {
			if s.Name == name {
				got[attr(s, "orderq.command.id")] = s
			}
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d spans %q recorded, want %d", len(got), name, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// attr returns the value of a span's attribute key, or "".
func attr(s tracetest.SpanStub, key string) string {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// TestTracedCommandsContinueTheirTraces: of a message's commands, those its
// header traces get a process span, a child of the gateway's span, with an
// apply span below it and their outcome; the batch's results message
// carries each one's context at its result's index; an untraced command
// gets no span.
func TestTracedCommandsContinueTheirTraces(t *testing.T) {
	e := newEnv(t)
	tr, exp := recordedTracer(t)
	e.tracer = tr
	item := e.item(t, 1)
	cmds := orders(item, 3) // the first takes the one unit
	body, err := message.EncodeCommands(cmds)
	if err != nil {
		t.Fatal(err)
	}
	// The gateway's send spans of the first and the last.
	sends := map[string]trace.Span{}
	var headers amqp.Table
	for _, i := range []int{0, 2} {
		_, span := tr.Start(context.Background(), "gateway's send")
		span.End()
		sends[cmds[i].ID] = span
		headers = tr.Inject(headers, i, span)
	}
	results := e.results(t)
	e.publishWith(t, item, body, headers)
	e.start(t, nil)

	var d struct {
		results []message.Result
		carried map[string]trace.SpanContext
	}
	select {
	case m := <-results:
		if d.results, err = message.DecodeResults(m.Body); err != nil {
			t.Fatal(err)
		}
		d.carried = map[string]trace.SpanContext{}
		tr.Each(m.Headers, len(d.results), func(i int, parent context.Context) {
			d.carried[d.results[i].ID] = trace.SpanContextFromContext(parent)
		})
	case <-time.After(30 * time.Second):
		t.Fatal("no results message")
	}

	processes := awaitSpans(t, exp, ProcessSpan(shard.Of(item, shards)), 2)
	applies := exp.GetSpans()
	wantStatus := map[string]string{cmds[0].ID: "confirmed", cmds[2].ID: "rejected"}
	for id, send := range sends {
		p, ok := processes[id]
		if !ok {
			t.Errorf("order %s: no process span", id)
			continue
		}
		switch {
		case p.Parent.SpanID() != send.SpanContext().SpanID() || p.SpanContext.TraceID() != send.SpanContext().TraceID():
			t.Errorf("order %s: process span's parent %v, want the gateway's span %v", id, p.Parent, send.SpanContext())
		case p.SpanKind != trace.SpanKindConsumer || attr(p, "orderq.order.status") != wantStatus[id] || attr(p, "orderq.batch.commands") != "3":
			t.Errorf("order %s: process span %v %v, want a consumer span of a batch of 3, status %s", id, p.SpanKind, p.Attributes, wantStatus[id])
		case d.carried[id].SpanID() != p.SpanContext.SpanID():
			t.Errorf("order %s: results message carries %v, want the process span %v", id, d.carried[id], p.SpanContext)
		}
		found := false
		for _, a := range applies {
			if a.Name == ApplySpan && a.Parent.SpanID() == p.SpanContext.SpanID() {
				found = !a.StartTime.Before(p.StartTime) && !a.EndTime.After(p.EndTime)
			}
		}
		if !found {
			t.Errorf("order %s: no apply span within its process span", id)
		}
	}
	if _, ok := processes[cmds[1].ID]; ok || d.carried[cmds[1].ID].IsValid() {
		t.Errorf("the untraced order has a span or a context in the results")
	}
	if n := len(exp.GetSpans()); n != 2+2+2 {
		t.Errorf("%d spans recorded, want the 2 gateway spans and a process and an apply span of each traced order", n)
	}
}

// TestDeadLetteredTracedCommand: a traced command whose message is
// dead-lettered ends its trace with a failed process span that says so.
func TestDeadLetteredTracedCommand(t *testing.T) {
	e := newEnv(t)
	tr, exp := recordedTracer(t)
	e.tracer = tr
	item := e.item(t, 10)
	part := message.Command{Kind: message.KindOrderPart, ID: uuid.NewString(), AcceptedAt: time.Now(), CustomerID: "c",
		Parts: 2, Lines: []message.Line{{No: 1, ItemID: item, Quantity: 1}}}
	body, err := message.EncodeCommands([]message.Command{part})
	if err != nil {
		t.Fatal(err)
	}
	_, send := tr.Start(context.Background(), "gateway's send")
	send.End()
	e.publishWith(t, item, body, tr.Inject(nil, 0, send))
	e.start(t, nil)

	p := awaitSpans(t, exp, ProcessSpan(shard.Of(item, shards)), 1)[part.ID]
	if p.Status.Code != codes.Error || p.Parent.SpanID() != send.SpanContext().SpanID() {
		t.Errorf("process span with status %v and parent %v, want a failure, child of %v", p.Status, p.Parent, send.SpanContext())
	}
}

// TestTracedMessageToAWorkerThatDoesNotTrace: a worker without a tracer,
// as one of a version before tracing, applies a traced message as any other
// (its body is all it reads) and publishes results without trace headers.
func TestTracedMessageToAWorkerThatDoesNotTrace(t *testing.T) {
	e := newEnv(t)
	tr, _ := recordedTracer(t)
	item := e.item(t, 5)
	cmds := orders(item, 2)
	body, err := message.EncodeCommands(cmds)
	if err != nil {
		t.Fatal(err)
	}
	_, send := tr.Start(context.Background(), "gateway's send")
	send.End()
	results := e.results(t)
	e.publishWith(t, item, body, tr.Inject(nil, 1, send))
	e.start(t, nil)

	select {
	case m := <-results:
		rs, err := message.DecodeResults(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 2 || rs[0].Order == nil || rs[1].Order == nil || !rs[0].Order.Final() || !rs[1].Order.Final() {
			t.Errorf("results %+v, want both orders decided", rs)
		}
		if m.Headers != nil {
			t.Errorf("results headers %v, want none", m.Headers)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no results message")
	}
}

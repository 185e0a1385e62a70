package intake

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/tracing"
)

// recordedTracer returns a Tracer that samples as the programs do by
// default (a caller's unsampled trace stays unsampled), and what it records.
func recordedTracer(t *testing.T) (*tracing.Tracer, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return tracing.New(tp), exp
}

// unsampled is the context of a request whose caller's trace is not sampled.
func unsampled() context.Context {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, Remote: true,
	})
	return trace.ContextWithRemoteSpanContext(context.Background(), sc)
}

// TestTracedCommandsShareAMessage: commands coalesced into one message keep
// their own traces. Each sampled one gets a send span, a child of its
// request's span, whose context the message's header carries at the
// command's index; an unsampled one gets neither; the body is the one an
// untraced message would have.
func TestTracedCommandsShareAMessage(t *testing.T) {
	tr, exp := recordedTracer(t)
	pub := &recorder{}
	in := start(t, pub, Config{Shards: 1, Parallel: 1, Linger: 200 * time.Millisecond, Tracer: tr})

	type submitted struct {
		cmd     message.Command
		request trace.SpanContext // the request's span; invalid when unsampled
	}
	var subs []submitted
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range 3 {
		ctx := unsampled()
		var request trace.Span
		if i != 1 {
			ctx, request = tr.Start(context.Background(), "request")
		}
		cmd := order(7)
		s := submitted{cmd: cmd}
		if request != nil {
			s.request = request.SpanContext()
		}
		subs = append(subs, s)
		wg.Go(func() {
			if err := in.Submit(ctx, cmd); err != nil {
				mu.Lock()
				defer mu.Unlock()
				t.Errorf("submit: %v", err)
			}
			if request != nil {
				request.End()
			}
		})
	}
	wg.Wait()

	if len(pub.msgs) != 1 {
		t.Fatalf("%d messages, want the 3 commands in one", len(pub.msgs))
	}
	msg := pub.msgs[0]
	cmds, err := message.DecodeCommands(msg.Body)
	if err != nil {
		t.Fatalf("decode the body: %v", err)
	}
	index := map[string]int{}
	for i, c := range cmds {
		index[c.ID] = i
	}
	carried := map[int]trace.SpanContext{}
	tr.Each(msg.Headers, len(cmds), func(i int, parent context.Context) { carried[i] = trace.SpanContextFromContext(parent) })

	sends := map[string]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		if s.Name == SendSpan {
			sends[attr(s, "orderq.command.id")] = s
		}
	}
	for _, s := range subs {
		i := index[s.cmd.ID]
		send, traced := sends[s.cmd.ID]
		if !s.request.IsValid() {
			if traced || carried[i].IsValid() {
				t.Errorf("unsampled command %d: send span %v, header %v; want neither", i, traced, carried[i])
			}
			continue
		}
		switch {
		case !traced:
			t.Errorf("command %d: no send span", i)
		case send.Parent.SpanID() != s.request.SpanID() || send.SpanContext.TraceID() != s.request.TraceID():
			t.Errorf("command %d: send span's parent %v, want the request's span %v", i, send.Parent, s.request)
		case carried[i].SpanID() != send.SpanContext.SpanID() || carried[i].TraceID() != send.SpanContext.TraceID():
			t.Errorf("command %d: header carries %v, want the send span %v", i, carried[i], send.SpanContext)
		case len(send.Events) != 1 || send.Events[0].Name != "publish" || send.Status.Code == codes.Error:
			t.Errorf("command %d: send span events %v, status %v; want one publish event, not an error", i, send.Events, send.Status)
		}
	}
	if len(carried) != 2 {
		t.Errorf("header carries %d contexts, want the 2 sampled commands'", len(carried))
	}
}

// TestUntracedMessagesHaveNoHeaders: without a tracer, or with no command
// sampled, a message carries no headers at all.
func TestUntracedMessagesHaveNoHeaders(t *testing.T) {
	tr, exp := recordedTracer(t)
	for name, cfg := range map[string]Config{
		"no tracer":    {Shards: 1},
		"none sampled": {Shards: 1, Tracer: tr},
	} {
		t.Run(name, func(t *testing.T) {
			pub := &recorder{}
			in := start(t, pub, cfg)
			ctx, request := tr.Start(unsampled(), "request")
			if err := in.Submit(ctx, order(7)); err != nil {
				t.Fatal(err)
			}
			request.End()
			if len(pub.msgs) != 1 || pub.msgs[0].Headers != nil {
				t.Errorf("messages %+v, want one without headers", pub.msgs)
			}
		})
	}
	if spans := exp.GetSpans(); len(spans) != 0 {
		t.Errorf("recorded %d spans of unsampled requests", len(spans))
	}
}

// TestSendSpanOfAFailedPublish: a command the broker did not take ends its
// send span as an error.
func TestSendSpanOfAFailedPublish(t *testing.T) {
	tr, exp := recordedTracer(t)
	in := start(t, &recorder{err: errors.New("nacked")}, Config{Shards: 1, Tracer: tr})
	ctx, request := tr.Start(context.Background(), "request")
	if err := in.Submit(ctx, order(7)); err == nil {
		t.Fatal("submit succeeded, want the publish's error")
	}
	request.End()
	for _, s := range exp.GetSpans() {
		if s.Name == SendSpan {
			if s.Status.Code != codes.Error {
				t.Errorf("send span status %v, want an error", s.Status)
			}
			return
		}
	}
	t.Error("no send span")
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

// BenchmarkSubmitTracing measures what tracing adds to a command's way
// through the intake, the broker left out (a publisher that confirms at
// once): off, on with 1 % of requests sampled, and on with all of them.
// Each request has a server span of its own, as the HTTP layer gives it.
func BenchmarkSubmitTracing(b *testing.B) {
	for _, bc := range []struct {
		name  string
		ratio float64 // < 0: tracing off
	}{{"off", -1}, {"sampled 1%", 0.01}, {"sampled all", 1}} {
		b.Run(bc.name, func(b *testing.B) {
			var tr *tracing.Tracer
			if bc.ratio >= 0 {
				tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(tracing.Sampler("parentbased_traceidratio", bc.ratio)),
					sdktrace.WithBatcher(tracetest.NewNoopExporter()))
				b.Cleanup(func() { tp.Shutdown(context.Background()) })
				tr = tracing.New(tp)
			}
			in := New(&recorder{}, Config{Shards: 4, Tracer: tr})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { in.Run(ctx); close(done) }()
			b.Cleanup(func() { cancel(); <-done })
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					rctx := context.Background()
					var request trace.Span
					if tr != nil {
						rctx, request = tr.Start(rctx, "request", trace.WithSpanKind(trace.SpanKindServer))
					}
					if err := in.Submit(rctx, order(42)); err != nil {
						b.Error(err)
					}
					if request != nil {
						request.End()
					}
				}
			})
		})
	}
}

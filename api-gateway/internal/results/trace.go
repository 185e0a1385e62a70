package results

import (
	"context"

	amqp "github.com/rabbitmq/amqp091-go"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/tracing"
)

// ReceiveSpan names the span, in a command's trace, of this gateway taking
// in the command's result: a child of the worker's span of the command, it
// covers storing the result and waking the requests that wait for it.
const ReceiveSpan = "receive " + message.ResultsExchange

// startReceive starts the spans of the traced results among rs, whose
// message came with headers.
func startReceive(t *tracing.Tracer, headers amqp.Table, rs []message.Result) []trace.Span {
	var spans []trace.Span
	t.Each(headers, len(rs), func(i int, parent context.Context) {
		_, span := t.Start(parent, ReceiveSpan, trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(semconv.MessagingSystemRabbitMQ, semconv.MessagingOperationTypeReceive,
				semconv.MessagingDestinationName(message.ResultsExchange)),
			trace.WithAttributes(tracing.Command(rs[i].Kind, rs[i].ID)...), trace.WithAttributes(tracing.Outcome(rs[i])...))
		spans = append(spans, span)
	})
	return spans
}

package intake

import (
	"context"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/tracing"
)

// SendSpan names a command's span in its request's trace: from Submit to
// the broker's confirm of the message the command went out in, with an
// event when that message was published (the time before it is the
// linger and the wait for the shard's publish in flight). Its context
// travels in the message's tracing.Header, so that the worker's span of the
// command continues the trace.
const SendSpan = "send " + message.OrdersExchange

// startSend starts the send span of cmd, submitted within the sampled
// trace of ctx. A command outside one gets none: every sampler the
// programs take decides a child as it decided its request's span (a trace
// id's ratio is the same for both), so its span would record nothing, and
// most commands are outside one when few traces are kept.
func (in *Intake) startSend(ctx context.Context, cmd message.Command) trace.Span {
	_, span := in.cfg.Tracer.Start(ctx, SendSpan, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
		semconv.MessagingSystemRabbitMQ, semconv.MessagingOperationTypeSend,
		semconv.MessagingDestinationName(message.OrdersExchange)), trace.WithAttributes(tracing.Command(cmd.Kind, cmd.ID)...))
	return span
}

// traced marks the publish of shard n's message of batch on the spans of
// its commands, and returns the message's headers: the trace contexts of
// the sampled commands, by index; nil when none is.
func (in *Intake) traced(n int, batch []*request, messageID string) amqp.Table {
	var headers amqp.Table
	for i, r := range batch {
		if r.span == nil || !r.span.IsRecording() {
			continue
		}
		r.span.SetAttributes(semconv.MessagingMessageID(messageID),
			semconv.MessagingRabbitMQDestinationRoutingKey(message.RoutingKey(n)),
			attribute.Int("orderq.shard", n), attribute.Int("orderq.message.commands", len(batch)))
		r.span.AddEvent("publish")
		headers = in.cfg.Tracer.Inject(headers, i, r.span)
	}
	return headers
}

// endSend ends a send span with the outcome of its publish.
func endSend(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

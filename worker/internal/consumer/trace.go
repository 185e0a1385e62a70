package consumer

import (
	"context"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/tracing"
)

// A batch applies the commands of many orders in one transaction, and each
// order has a trace of its own. So each traced command of a batch gets spans
// of its own, in its own trace, which tell what the batch did for it:
//
//   - ProcessSpan(n), a child of the gateway's send span found in the
//     delivery's tracing.Header: from the delivery's arrival to the batch's
//     acknowledgement, with the command's outcome;
//   - ApplySpan, its child: the batch's transaction (retries included).
//
// The traced commands of one batch share the times of their ApplySpans. The
// batch's results message carries each ProcessSpan's context, by the index
// of the command's result, so that the gateways' spans of the result
// continue the trace.

// ProcessSpan names the span of a command of shard n's queue.
func ProcessSpan(n int) string { return "process " + message.ShardQueue(n) }

// ApplySpan names the span of the transaction that applied a command.
const ApplySpan = "apply batch"

// tracedCommand is a command of a delivery that continues a trace: its
// index among the delivery's commands, and a context holding its parent.
type tracedCommand struct {
	index  int
	parent context.Context
}

// traces finds the commands of d that carry a trace context.
func (c *Consumer) traces(d delivery) delivery {
	c.cfg.Tracer.Each(d.Headers, len(d.cmds), func(i int, parent context.Context) {
		d.traced = append(d.traced, tracedCommand{index: i, parent: parent})
	})
	if len(d.traced) > 0 {
		d.arrived = time.Now()
	}
	return d
}

// startProcess starts the spans of the traced commands of shard n's batch
// of deliveries good, which applied commands commands from start to applied
// with results, and returns the process spans, to end once the batch is
// acknowledged, and the headers of the results message.
func (c *Consumer) startProcess(n int, good []delivery, commands int, start, applied time.Time, results []message.Result) ([]trace.Span, amqp.Table) {
	var spans []trace.Span
	var headers amqp.Table
	var resultOf map[string]int // a command id's result, by index
	for _, d := range good {
		for _, tc := range d.traced {
			if resultOf == nil {
				resultOf = make(map[string]int, len(results))
				for i, r := range results {
					resultOf[r.ID] = i
				}
			}
			cmd := d.cmds[tc.index]
			ctx, span := c.processSpan(n, d, tc, len(good), commands)
			_, apply := c.cfg.Tracer.Start(ctx, ApplySpan, trace.WithTimestamp(start),
				trace.WithAttributes(semconv.DBSystemNameMySQL, attribute.Int("orderq.batch.commands", commands)))
			apply.End(trace.WithTimestamp(applied))
			if i, ok := resultOf[cmd.ID]; ok {
				span.SetAttributes(tracing.Outcome(results[i])...)
				headers = c.cfg.Tracer.Inject(headers, i, span)
			}
			spans = append(spans, span)
		}
	}
	return spans, headers
}

// processSpan starts the process span of the traced command tc of d, one of
// messages deliveries of a batch of commands commands on shard n.
func (c *Consumer) processSpan(n int, d delivery, tc tracedCommand, messages, commands int) (context.Context, trace.Span) {
	cmd := d.cmds[tc.index]
	return c.cfg.Tracer.Start(tc.parent, ProcessSpan(n), trace.WithSpanKind(trace.SpanKindConsumer), trace.WithTimestamp(d.arrived),
		trace.WithAttributes(semconv.MessagingSystemRabbitMQ, semconv.MessagingOperationTypeProcess,
			semconv.MessagingDestinationName(message.ShardQueue(n)), semconv.MessagingMessageID(d.MessageId),
			attribute.Int("orderq.shard", n), attribute.Bool("orderq.redelivered", d.Redelivered),
			attribute.Int("orderq.batch.messages", messages), attribute.Int("orderq.batch.commands", commands)),
		trace.WithAttributes(tracing.Command(cmd.Kind, cmd.ID)...))
}

// traceDeadLetter records, in the trace of each traced command of d, that
// d was dead-lettered, and why.
func (c *Consumer) traceDeadLetter(d delivery, n int) {
	for _, tc := range d.traced {
		_, span := c.processSpan(n, d, tc, 1, len(d.cmds))
		span.SetStatus(codes.Error, "dead-lettered: "+d.err.Error())
		span.End()
	}
}

// endSpans ends spans, as failed when err is set.
func endSpans(spans []trace.Span, err error) {
	for _, span := range spans {
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}

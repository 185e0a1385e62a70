package message

import "strconv"

// Exchange and queue names. They are part of the public contract: operators bind to
// them, dashboards show them.
const (
	OrdersExchange  = "orderq.orders"
	DeadExchange    = "orderq.dlx"
	DeadQueue       = "orderq.orders.dead"
	ResultsExchange = "orderq.results"
)

// DeliveryLimit is how often a shard queue delivers a message before it
// dead-letters it. Set explicitly because RabbitMQ 3.10 returns a requeued message
// to the back of a quorum queue when no limit is set, which would break per-item
// order. It is high enough that a few worker crashes in a row never dead-letter a
// good order.
const DeliveryLimit = 20

// ShardQueue is the name of shard n's queue.
func ShardQueue(n int) string { return OrdersExchange + "." + strconv.Itoa(n) }

// ResultsQueue is the name of a gateway instance's own results queue, named
// after the instance (INSTANCE), so that the broker's dashboard says whose it
// is. Like every name here it starts with "orderq.", so one permission
// pattern (^orderq\.) grants a program's broker user all it needs and
// nothing else.
func ResultsQueue(instance string) string { return ResultsExchange + "." + instance }

// ShardConsumerTag is the consumer tag of a worker instance on shard n's
// queue: the broker's consumer list then says which worker holds the shard
// and which stand by.
func ShardConsumerTag(instance string, n int) string {
	return "orderq-worker/" + instance + "/shard-" + strconv.Itoa(n)
}

// ResultsConsumerTag is the consumer tag of a gateway instance on its results
// queue.
func ResultsConsumerTag(instance string) string { return "orderq-gateway/" + instance + "/results" }

// RoutingKey is the key that routes to shard n's queue.
func RoutingKey(n int) string { return strconv.Itoa(n) }

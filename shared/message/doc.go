// Package message is the contract between orderq's gateway and worker: the
// RabbitMQ topology, the commands that travel on the shard queues and the results
// that travel back.
//
// # Topology
//
// Commands are published to the direct exchange [OrdersExchange] with the routing
// key [RoutingKey](shard.Of(itemID, shards)). Each shard has one quorum queue,
// [ShardQueue](n), with single-active-consumer on, so exactly one worker applies an
// item's commands, in the order the broker received them. The queues dead-letter to
// [DeadExchange], which routes everything to [DeadQueue]; the orders exchange uses
// [DeadExchange] as its alternate exchange too, so a message no queue takes is kept
// there instead of dropped.
//
// Workers publish [Results] to the fanout exchange [ResultsExchange], one message
// per applied batch: the new state of every order the batch changed (decided,
// a part decided, released) or saw again, and the outcome of every stock change
// and deletion. Gateways announce the changes they make themselves (a payment,
// a cancellation, a status move) there too, as results. Every gateway
// instance binds its own exclusive, auto-delete queue, [ResultsQueue], to it, so
// any instance can answer for any order, and keeps the state with the latest
// UpdatedAt when messages cross. Results are a fast path only: the database is
// the truth.
//
// Shard queues are bounded (x-max-length, SHARD_QUEUE_MAX_LENGTH) and refuse
// what does not fit (x-overflow reject-publish): the broker nacks the publish,
// and the gateway answers 503 instead of 202.
//
// # Acknowledgements
//
// The gateway publishes with publisher confirms and answers 202 only after the
// broker confirmed. The worker acknowledges a delivery only after the transaction
// that applied it committed; a delivery seen again (redelivered after a crash) is
// recognised by its command id and its stored result is published again.
//
// # Versioning
//
// Every body carries "v". A consumer rejects a version it does not know, and such a
// message is dead-lettered rather than guessed at. New optional fields may be added
// within a version; anything else needs a new version, which consumers learn to read
// before producers start to write it.
//
// Nothing a consumer must understand travels in AMQP headers. The one header
// orderq sets, the trace contexts of a message's traced commands or results
// (shared/tracing), is read only by a consumer that traces, and ignored by
// any other.
package message

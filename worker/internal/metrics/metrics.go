// Package metrics holds the worker's Prometheus metrics and serves them with
// the health check.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/orderq/orderq/shared/items"
	"github.com/orderq/orderq/shared/ops"
	"github.com/orderq/orderq/shared/shard"
)

// Metrics are the worker's instruments.
type Metrics struct {
	Registry     *prometheus.Registry
	Commands     *prometheus.CounterVec   // by kind and outcome
	BatchSize    *prometheus.HistogramVec // by shard
	ApplySeconds *prometheus.HistogramVec // by shard
	// AcceptToFinal times each order from its accept at the gateway (the
	// command's accepted_at) to its decision here, once, by the shard that
	// decides it.
	AcceptToFinal prometheus.Histogram
	// ShardActive is, by shard, 1 while this instance is the shard's active
	// consumer (it has had deliveries on its consumer), 0 while it is
	// subscribed and has had none: a standby, or the holder of a queue that
	// had no message since it subscribed. No series: not subscribed.
	ShardActive *prometheus.GaugeVec
	// ItemStock is, by item, the stock of the items whose stock this
	// instance's shards changed last (HotItems per shard): during a sale,
	// its hot items.
	ItemStock    *prometheus.GaugeVec
	DeadLettered prometheus.Counter
	DBRetries    prometheus.Counter
	// OutboxRows and OutboxOldest are the outbox's backlog: its rows not yet
	// published, and the age of the oldest in seconds (0 when empty).
	OutboxRows   prometheus.Gauge
	OutboxOldest prometheus.Gauge
	// PaymentTimeouts counts orders canceled for not being paid within
	// PAYMENT_TIMEOUT.
	PaymentTimeouts prometheus.Counter
	// ResultsDropped counts results messages never published: the results
	// connection was down or blocked while its queue filled.
	ResultsDropped prometheus.Counter
	// RejectedDeleted counts rejected orders deleted past REJECTED_RETENTION.
	RejectedDeleted prometheus.Counter

	shards int
	mu     sync.Mutex
	hot    map[int][]int64 // by shard: the items in ItemStock, the last changed first
}

// HotItems is how many items' stock each shard keeps in ItemStock: the
// metric follows the items a sale is about, and its series stay few
// whatever the catalogue's size.
const HotItems = 10

// AcceptToFinalBuckets are the bounds of AcceptToFinal, in seconds. The
// alert on its p99 (deploy/prometheus) compares against 0.25, a bound here,
// so that the quantile is exact where it matters.
var AcceptToFinalBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// New registers the instruments on a registry of their own; instance is
// INSTANCE, for orderq_build_info, and shards the deployment's shard count.
func New(instance string, shards int) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(), shards: shards, hot: map[int][]int64{},
		Commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orderq_worker_commands_total",
			Help: "Commands decided, by kind and outcome: an order's final status or rejection reason, a release's by why its order gave the stock back, a stock change's ok or error code.",
		}, []string{"kind", "outcome"}),
		BatchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "orderq_worker_batch_commands", Help: "Commands per applied batch, by shard.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}, []string{"shard"}),
		ApplySeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "orderq_worker_apply_seconds", Help: "Time to apply and commit one batch, by shard.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"shard"}),
		AcceptToFinal: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "orderq_worker_accept_to_final_seconds",
			Help:    "Time from an order's accept by a gateway (its accepted_at) to its decision by the shard that decides it.",
			Buckets: AcceptToFinalBuckets,
		}),
		ShardActive: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "orderq_worker_shard_active",
			Help: "1 while this instance is the shard's active consumer (it has had deliveries), 0 while subscribed without any (a standby, or an idle queue).",
		}, []string{"shard"}),
		ItemStock: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "orderq_worker_item_stock",
			Help: "Stock of the items whose stock this instance's shards changed last, up to 10 a shard.",
		}, []string{"item_id"}),
		OutboxRows: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "orderq_worker_outbox_rows", Help: "Commands in the outbox table, committed and not yet published.",
		}),
		OutboxOldest: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "orderq_worker_outbox_oldest_age_seconds", Help: "Age of the oldest row of the outbox table; 0 when it is empty.",
		}),
		PaymentTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orderq_worker_payment_timeouts_total", Help: "Orders canceled because they were not paid within PAYMENT_TIMEOUT.",
		}),
		DeadLettered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orderq_worker_dead_lettered_total", Help: "Messages rejected to the dead-letter queue.",
		}),
		DBRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orderq_worker_db_retries_total", Help: "Batch transactions retried after a database error.",
		}),
		ResultsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orderq_worker_results_dropped_total",
			Help: "Results messages (one a batch) dropped unpublished while the results connection was down or blocked; gateways find those outcomes in the database.",
		}),
		RejectedDeleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orderq_worker_rejected_orders_deleted_total",
			Help: "Rejected orders deleted, with their lines, once older than REJECTED_RETENTION.",
		}),
	}
	m.Registry.MustRegister(m.Commands, m.BatchSize, m.ApplySeconds, m.AcceptToFinal, m.ShardActive, m.ItemStock,
		m.DeadLettered, m.DBRetries, m.OutboxRows, m.OutboxOldest, m.PaymentTimeouts, m.ResultsDropped, m.RejectedDeleted,
		ops.BuildInfo("worker", instance),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// StockChanged sets ItemStock for items a committed batch changed, keeping
// each shard's HotItems changed last: the others' series are removed, and so
// is a deleted item's.
func (m *Metrics) StockChanged(rows []*items.Row) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range rows {
		n := shard.Of(r.ID, m.shards)
		id := strconv.FormatInt(r.ID, 10)
		hot := slices.DeleteFunc(m.hot[n], func(i int64) bool { return i == r.ID })
		if r.DeletedAt != nil {
			m.ItemStock.DeleteLabelValues(id)
			m.hot[n] = hot
			continue
		}
		m.ItemStock.WithLabelValues(id).Set(float64(r.Stock))
		hot = slices.Insert(hot, 0, r.ID)
		for _, old := range hot[min(len(hot), HotItems):] {
			m.ItemStock.DeleteLabelValues(strconv.FormatInt(old, 10))
		}
		m.hot[n] = hot[:min(len(hot), HotItems)]
	}
}

// ForgetShard removes what this instance showed of shard n once it no longer
// consumes it: another instance holds it now, and shows its own.
func (m *Metrics) ForgetShard(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ShardActive.DeleteLabelValues(strconv.Itoa(n))
	for _, id := range m.hot[n] {
		m.ItemStock.DeleteLabelValues(strconv.FormatInt(id, 10))
	}
	delete(m.hot, n)
}

// Serve serves /metrics and /healthz on addr until ctx is done.
func (m *Metrics) Serve(ctx context.Context, addr string, log *slog.Logger) error {
	ln, err := ops.Listen(addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}`))
	})
	log.Info("metrics listening", "addr", ln.Addr().String())
	return ops.Serve(ctx, ln, mux)
}

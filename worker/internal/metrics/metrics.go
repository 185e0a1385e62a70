// Package metrics holds the worker's Prometheus metrics and serves them with
// the health check.
package metrics

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/orderq/orderq/shared/ops"
)

// Metrics are the worker's instruments.
type Metrics struct {
	Registry     *prometheus.Registry
	Commands     *prometheus.CounterVec // by kind and outcome
	BatchSize    prometheus.Histogram
	ApplySeconds prometheus.Histogram
	DeadLettered prometheus.Counter
	DBRetries    prometheus.Counter
	// ResultsDropped counts results messages never published: the results
	// connection was down or blocked while its queue filled.
	ResultsDropped prometheus.Counter
	// RejectedDeleted counts rejected orders deleted past REJECTED_RETENTION.
	RejectedDeleted prometheus.Counter
}

// New registers the instruments on a registry of their own.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orderq_worker_commands_total", Help: "Commands applied, by kind and outcome.",
		}, []string{"kind", "outcome"}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "orderq_worker_batch_commands", Help: "Commands per applied batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		ApplySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "orderq_worker_apply_seconds", Help: "Time to apply and commit one batch.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
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
	m.Registry.MustRegister(m.Commands, m.BatchSize, m.ApplySeconds, m.DeadLettered, m.DBRetries, m.ResultsDropped, m.RejectedDeleted,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
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

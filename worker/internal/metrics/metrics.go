// Package metrics holds the worker's Prometheus metrics and serves them with
// the health check.
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the worker's instruments.
type Metrics struct {
	Registry     *prometheus.Registry
	Commands     *prometheus.CounterVec // by kind and outcome
	BatchSize    prometheus.Histogram
	ApplySeconds prometheus.Histogram
	DeadLettered prometheus.Counter
	DBRetries    prometheus.Counter
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
	}
	m.Registry.MustRegister(m.Commands, m.BatchSize, m.ApplySeconds, m.DeadLettered, m.DBRetries,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Serve serves /metrics and /healthz on addr until ctx is done.
func (m *Metrics) Serve(ctx context.Context, addr string, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	// Profiles on the metrics port, which is not the public one: "Profile
	// before you tune" must be possible on a running worker.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}`))
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	log.Info("metrics listening", "addr", addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

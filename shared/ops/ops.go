// Package ops serves what operators reach on ports of their own, never on a
// program's public one: its metrics and, only where DEBUG_ADDR asks for them,
// Go's profiles and execution traces, which show a running program's inside
// and cost CPU to take; and orderq_build_info, which names the program
// behind every other metric.
package ops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// Listen opens addr, so that a port in use stops the program at start-up
// instead of leaving it running without the endpoint it was asked for.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

// Serve serves h on ln until ctx is done or the server fails, then shuts
// down, waiting at most 5 s for the requests in flight (a profile or trace
// runs for its seconds). It returns once nothing it started runs: nil after
// a stop, else the server's error.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var err error
	select {
	case err = <-served:
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if srv.Shutdown(shutdown) != nil {
		srv.Close()
	}
	if err == nil {
		if err = <-served; errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
	}
	return err
}

// Profiles serves Go's profiler under /debug/pprof/: the index with the heap,
// goroutine and other profiles, CPU profiles at /debug/pprof/profile and
// execution traces at /debug/pprof/trace.
func Profiles() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// Package lifetime runs the goroutines a program owns for as long as the
// program runs, and stops them in order when it ends: a signal, or one of them
// returning on its own, which is a failure (a listener that cannot serve, say)
// that ends the program with its error.
//
// A Group stops its goroutines in the reverse order of their start, as
// deferred calls run: each is asked to stop, by canceling its context, only
// once every one started after it has returned. A program starts what others
// depend on first (the database, the broker connection) and what takes work
// in last (the HTTP server, the consumer), so on shutdown it stops taking
// work first and closes what that work used last. Each goroutine bounds its
// own stop; the group waits for every one, so nothing it started outlives it.
//
// golang.org/x/sync/errgroup does not fit: its goroutines share one context,
// canceled at once for all, and shutdown needs one context and one wait per
// goroutine, taken in turn; what errgroup would add beyond that is keeping the
// first error.
package lifetime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
)

// Group runs goroutines and stops them in order. The zero value is not
// usable; call New.
type Group struct {
	log *slog.Logger

	ended   chan struct{} // closed when the first goroutine returned on its own
	endOnce sync.Once

	mu      sync.Mutex
	stages  []*stage
	cause   *stage // the first goroutine that returned on its own
	stopped bool

	stopOnce sync.Once
	err      error
}

// stage is a goroutine (run) or a deferred call (close).
type stage struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}
	err    error // the goroutine's error, set before done is closed
	close  func() error
}

// New returns an empty group that logs its shutdown to log.
func New(log *slog.Logger) *Group {
	return &Group{log: log, ended: make(chan struct{})}
}

// Go runs run in a goroutine of its own until the group stops it by canceling
// run's context. run then finishes its work in hand and returns, within a
// bound of its own. A run that returns before it is stopped, with an error or
// without, stops the group: the program cannot go on without it. name
// appears in the logs ("stopping <name>") and the errors. Go must not be
// called once the group stopped.
func (g *Group) Go(name string, run func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &stage{name: name, cancel: cancel, done: make(chan struct{})}
	g.add(s)
	go func() {
		defer close(s.done)
		err := run(ctx)
		if ctx.Err() != nil {
			if err != nil {
				s.err = fmt.Errorf("stop %s: %w", name, err)
			}
			return
		}
		if err == nil {
			err = errors.New("returned before it was stopped")
		}
		s.err = fmt.Errorf("%s: %w", name, err)
		g.mu.Lock()
		if g.cause == nil {
			g.cause = s
		}
		g.mu.Unlock()
		g.endOnce.Do(func() { close(g.ended) })
	}()
}

// Defer adds close to the group: it is called when the group stops, in its
// turn, once every goroutine started after it has returned. Closing what the
// goroutines use (the database) goes here.
func (g *Group) Defer(name string, close func() error) {
	g.add(&stage{name: name, close: close})
}

func (g *Group) add(s *stage) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		panic("lifetime: " + s.name + " added to a group that stopped")
	}
	g.stages = append(g.stages, s)
}

// Wait waits until ctx is done or a goroutine returned on its own, then stops
// the group and returns what Stop returns.
func (g *Group) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
	case <-g.ended:
	}
	return g.Stop()
}

// Stop stops the group, last started first, each stage logged once as it is
// stopped, and "stopped" at the end. It returns the error of the goroutine
// that returned on its own, if one did, joined with the errors the others
// returned on their way out; nil for a clean stop. Stop is idempotent: later
// calls return the same.
func (g *Group) Stop() error {
	g.stopOnce.Do(func() {
		g.mu.Lock()
		g.stopped = true
		stages, cause := slices.Clone(g.stages), g.cause
		g.mu.Unlock()
		var errs []error
		if cause != nil {
			// The error itself is the caller's to report, once.
			g.log.Warn("shutting down", "failed", cause.name)
			errs = append(errs, cause.err)
		} else {
			g.log.Info("shutting down")
		}
		for _, s := range slices.Backward(stages) {
			g.log.Info("stopping " + s.name)
			if s.close != nil {
				if err := s.close(); err != nil {
					errs = append(errs, fmt.Errorf("close %s: %w", s.name, err))
				}
				continue
			}
			s.cancel()
			<-s.done
			if s.err != nil && s != cause {
				errs = append(errs, s.err)
			}
		}
		g.err = errors.Join(errs...)
		g.log.Info("stopped")
	})
	return g.err
}

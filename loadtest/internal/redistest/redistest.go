// Package redistest gives a test a redis-server of its own (redisserver), on
// a free port, stopped by its pid when the test ends; never the machine's
// shared Redis. Without redis-server the test is skipped with the reason,
// except under CI (CI set), where it fails: a missing server must never pass
// as green.
package redistest

import (
	"context"
	"os"
	"testing"

	"github.com/orderq/orderq/loadtest/internal/redisserver"
)

// Require skips t, or fails it under CI, when redis-server is not
// installed: for a test whose program starts one itself.
func Require(t testing.TB) {
	t.Helper()
	if _, err := redisserver.Program(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v: this test starts a Redis of its own", err)
		}
		t.Skipf("%v: this test starts a Redis of its own", err)
	}
}

// Start starts a redis-server for t.
func Start(t testing.TB) *redisserver.Server {
	t.Helper()
	Require(t)
	s, err := redisserver.Start(context.Background())
	if err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop %s: %v", s, err)
		}
	})
	return s
}

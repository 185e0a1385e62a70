package redisserver_test

import (
	"context"
	"errors"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/orderq/orderq/loadtest/internal/redistest"
)

// TestKillRestartStop crashes the server and brings it back: on the same
// port, without what it held, configured to keep nothing on disk.
func TestKillRestartStop(t *testing.T) {
	ctx := context.Background()
	s := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr, Protocol: 2, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	for key, want := range map[string]string{"save": "", "appendonly": "no", "bind": "127.0.0.1"} {
		got, err := rdb.ConfigGet(ctx, key).Result()
		if err != nil {
			t.Fatalf("CONFIG GET %s: %v", key, err)
		}
		if got[key] != want {
			t.Errorf("%s = %q, want %q", key, got[key], want)
		}
	}

	pid := s.Pid()
	if err := s.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("pid %d still there after Kill (%v)", pid, err)
	}
	if err := rdb.Ping(ctx).Err(); err == nil {
		t.Error("PING answered after Kill")
	}
	if err := s.Kill(); err == nil {
		t.Error("Kill of a killed server succeeded")
	}

	if err := s.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if s.Pid() == pid || s.Pid() == 0 {
		t.Errorf("pid after Restart %d, before %d", s.Pid(), pid)
	}
	if err := s.Restart(ctx); err == nil {
		t.Error("Restart of a running server succeeded")
	}
	if err := rdb.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("GET after the restart: %v, want nothing kept", err)
	}

	pid = s.Pid()
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("pid %d still there after Stop (%v)", pid, err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("Stop of a stopped server: %v", err)
	}
}

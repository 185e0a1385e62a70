package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/orderq/orderq/shared/cli"
	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/deployment"
	"github.com/orderq/orderq/shared/mq"
	"github.com/orderq/orderq/shared/testenv"
)

// TestShardsShowAndResume: shards shows the recorded count, the intake and
// the backlog queue by queue, and resume opens an intake left paused.
func TestShardsShowAndResume(t *testing.T) {
	dsn, amqpURL := testenv.Database(t), testenv.Vhost(t)
	db, err := database.Open(t.Context(), dsn, slog.New(slog.NewTextHandler(io.Discard, nil)), database.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { database.Close(db) })
	run2 := func(args ...string) (string, int) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		vars := map[string]string{"MYSQL_DSN": dsn, "AMQP_URL": amqpURL}
		err := run(context.Background(), args, env{getenv: func(k string) string { return vars[k] }, stdout: &stdout, stderr: &stderr})
		out := stdout.String() + stderr.String()
		if err != nil {
			out += err.Error()
		}
		return out, cli.Code(err)
	}
	if out, code := run2("shards"); code != cli.ExitCannot || !strings.Contains(out, "no shard count is recorded") {
		t.Errorf("shards on a database no program used: %d %s", code, out)
	}
	if err := deployment.Check(t.Context(), db, 2); err != nil {
		t.Fatal(err)
	}
	if err := deployment.SetIntake(t.Context(), db, false); err != nil {
		t.Fatal(err)
	}
	// The shard queues a program would have declared.
	if out, code := run2("shards"); code != cli.ExitCannot || !strings.Contains(out, "orderq.orders.0") {
		t.Errorf("shards without its queues: %d %s, want the missing queue named", code, out)
	}
	conn, err := mq.Dial(amqpURL, "orderqctl-test")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := mq.DeclareTopology(conn, mq.Topology{Shards: 2, MaxLength: 1000}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	out, code := run2("shards")
	if code != cli.ExitOK || !strings.Contains(out, "shards 2, intake paused") || !strings.Contains(out, "orderq.orders.1") ||
		!strings.Contains(out, "outbox 0, pending orders 0") {
		t.Errorf("shards: %d\n%s", code, out)
	}
	if out, code := run2("shards", "resume"); code != cli.ExitOK || !strings.Contains(out, "intake open") {
		t.Errorf("shards resume: %d %s", code, out)
	}
	if st, err := deployment.Read(t.Context(), db); err != nil || !st.IntakeOpen {
		t.Errorf("after resume: %+v, %v; want the intake open", st, err)
	}
}

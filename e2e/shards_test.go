package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/shard"
	"github.com/orderq/orderq/shared/testenv"
)

// TestShardCountChangeUnderACrowd changes a deployment from 2 shards to 4
// with orderqctl shards change while a crowd orders two items, one of which
// moves to another shard: the gateway and the worker of 2 shards stop, are
// restarted with 4, and every accepted order is final exactly once, stock
// exact, ledger balanced.
func TestShardCountChangeUnderACrowd(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	s.env["SHARDS"] = "2"
	w := s.startWorker(nil)
	g, base := s.startGateway(nil)
	c := newClient(t, base, 1)
	// Two items: one whose shard stays, one whose shard changes.
	var stays, moves *int64
	for stays == nil || moves == nil {
		it := c.createItem("shards", 300, 0)
		id := it.ID
		if shard.Of(id, 2) == shard.Of(id, 4) && stays == nil {
			stays = &id
		} else if shard.Of(id, 2) != shard.Of(id, 4) && moves == nil {
			moves = &id
		}
	}
	var crowds []*crowd
	for _, item := range []int64{*stays, *moves} {
		crowds = append(crowds, startPacedCrowd(t, base, item))
	}
	for _, cr := range crowds {
		cr.waitAccepted(200)
	}

	start := time.Now()
	ctl := exec.Command(filepath.Join(binDir, "orderqctl"), "shards", "change", "4", "--timeout", "2m")
	ctl.Env = append(os.Environ(), "MYSQL_DSN="+s.env["MYSQL_DSN"], "AMQP_URL="+s.env["AMQP_URL"], "RABBITMQ_API="+testenv.ManagementAPI(t))
	out, err := ctl.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "shard count changed from 2 to 4") {
		t.Fatalf("orderqctl shards change 4: %v\n%s", err, out)
	}
	t.Logf("orderqctl shards change 4 took %v:\n%s", time.Since(start).Round(time.Millisecond), out)

	// The programs of 2 shards stop on their own, exit status 3.
	for name, p := range map[string]*process{"worker": w, "gateway": g} {
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			t.Fatalf("the %s of 2 shards still runs 30 s after the change", name)
		}
		var ee *exec.ExitError
		if !errors.As(p.err, &ee) || ee.ExitCode() != 3 || !strings.Contains(p.output(), "shard count changed") {
			t.Errorf("the %s of 2 shards ended with %v, want exit status 3 naming the change", name, p.err)
		}
	}
	// A program of the old count refuses to start; those of the new one run.
	old := s.launch("worker", map[string]string{"METRICS_ADDR": "127.0.0.1:0"}, workerReady)
	select {
	case <-old.p.exited:
		if !strings.Contains(old.p.output(), "shard count mismatch") {
			t.Errorf("a worker of 2 shards stopped without naming the mismatch:\n%s", old.p.output())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a worker of 2 shards started on a deployment of 4")
	}
	four := map[string]string{"SHARDS": "4"}
	s.startWorker(four)
	_, base = s.startGateway(four)
	for _, cr := range crowds {
		cr.setBase(base)
	}
	t.Logf("%v without the programs, from the change's start to both restarted", time.Since(start).Round(time.Millisecond))
	time.Sleep(clusterAfter)
	var ids [][]string
	for i, cr := range crowds {
		cr.stop()
		cr.wait()
		t.Logf("item %d: %s; longest time without an accepted order %v", i, cr.summary(), cr.longestGap().Round(time.Millisecond))
		ids = append(ids, cr.acceptedIDs())
	}
	s.checkSale(*stays, ids[0])
	s.checkSale(*moves, ids[1])
	if d := s.queueDepth(message.ShardQueue(3)); d != 0 {
		t.Errorf("%s holds %d messages after the sale", message.ShardQueue(3), d)
	}
}

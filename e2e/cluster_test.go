package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/shard"
	"github.com/orderq/orderq/shared/testenv"
)

// The crowds of the cluster tests, one per gateway: clusterClients clients
// each, each waiting clusterPace after an accepted order, sending until the
// fault is over and a little more (at most clusterOrders).
const (
	clusterStock   = 500
	clusterOrders  = 50_000
	clusterClients = 8
	clusterPace    = 20 * time.Millisecond
	clusterAfter   = 3 * time.Second
)

// startPacedCrowd starts a crowd for a fault that lasts: paced, sending
// until stopped, and retrying through lost connections.
func startPacedCrowd(t *testing.T, base string, item int64) *crowd {
	cr := newCrowd(t, base, item, clusterOrders, clusterClients)
	cr.lostOK.Store(true)
	cr.pace = clusterPace
	cr.start()
	return cr
}

// cluster is a RabbitMQ cluster of the test's own, and the system on it.
type cluster struct {
	*system
	nodes []*testenv.RabbitMQNode
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{system: newSystem(t), nodes: testenv.StartRabbitMQCluster(t, 3)}
	var urls []string
	for _, n := range c.nodes {
		urls = append(urls, fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", n.Port))
	}
	c.env["AMQP_URL"] = strings.Join(urls, ",")
	return c
}

// leaderOf returns the node that leads a shard's queue.
func (c *cluster) leaderOf(up *testenv.RabbitMQNode, n int) *testenv.RabbitMQNode {
	c.t.Helper()
	out := up.Ctl(c.t, "list_queues", "--formatter", "json", "-q", "name", "leader")
	var qs []struct{ Name, Leader string }
	if err := json.Unmarshal([]byte(out), &qs); err != nil {
		c.t.Fatalf("list_queues: %v: %s", err, out)
	}
	for _, q := range qs {
		if q.Name == message.ShardQueue(n) {
			for _, node := range c.nodes {
				if node.Name == q.Leader {
					return node
				}
			}
		}
	}
	c.t.Fatalf("no node leads %s: %s", message.ShardQueue(n), out)
	return nil
}

// nodeOf returns a node a process holds a connection to.
func (c *cluster) nodeOf(p *process) *testenv.RabbitMQNode {
	c.t.Helper()
	out, err := exec.Command("ss", "-tnpH", "state", "established").CombinedOutput()
	if err != nil {
		c.t.Fatalf("ss: %v: %s", err, out)
	}
	pid := "pid=" + strconv.Itoa(p.cmd.Process.Pid) + ","
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) < 5 || !strings.Contains(line, pid) {
			continue
		}
		for _, n := range c.nodes {
			if strings.HasSuffix(f[3], ":"+strconv.Itoa(n.Port)) {
				return n
			}
		}
	}
	c.t.Fatalf("the process holds no connection to a node:\n%s", out)
	return nil
}

// sale runs a crowd on each gateway for a new item of its own, calls fault
// once each crowd had a few hundred orders accepted, stops the crowds a few
// seconds after it returned, and checks the sale: every accepted order final
// exactly once, the stock exact, the ledger balanced.
func (c *cluster) sale(name string, bases []string, fault func(item int64)) {
	c.t.Helper()
	item := newClient(c.t, bases[0], 1).createItem(name, clusterStock, 0)
	var crowds []*crowd
	for _, base := range bases {
		crowds = append(crowds, startPacedCrowd(c.t, base, item.ID))
	}
	for _, cr := range crowds {
		cr.waitAccepted(300)
	}
	start := time.Now()
	fault(item.ID)
	faultTook := time.Since(start)
	time.Sleep(clusterAfter)
	for _, cr := range crowds {
		cr.stop()
	}
	var ids []string
	for i, cr := range crowds {
		cr.wait()
		c.t.Logf("%s, gateway %d: %s; longest time without an accepted order %v (the fault took %v)",
			name, i+1, cr.summary(), cr.longestGap().Round(time.Millisecond), faultTook.Round(time.Millisecond))
		ids = append(ids, cr.acceptedIDs()...)
	}
	c.checkSale(item.ID, ids)
}

// TestClusterFailover: two gateways and two workers on a cluster of three
// nodes under a crowd each, through the crash of the node leading the sale's
// shard, the crash of a node a gateway is connected to, and a rolling
// restart of the three nodes. The crashed nodes come back after a few
// seconds.
func TestClusterFailover(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.startWorker(nil)
	c.startWorker(nil)
	g1, base1 := c.startGateway(nil)
	_, base2 := c.startGateway(nil)
	bases := []string{base1, base2}
	shards, err := strconv.Atoi(c.env["SHARDS"])
	if err != nil {
		t.Fatal(err)
	}

	c.sale("leader-crash", bases, func(item int64) {
		n := c.leaderOf(c.nodes[0], shard.Of(item, shards))
		t.Logf("killing %s, which leads the item's shard", n.Name)
		n.Kill()
		time.Sleep(3 * time.Second)
		n.Restart()
	})
	c.sale("gateway-node-crash", bases, func(int64) {
		waiter := newClient(t, base1, 1)
		other := waiter.createItem("waiter", 10, 0)
		n := c.nodeOf(g1)
		t.Logf("killing %s, which gateway 1 is connected to", n.Name)
		n.Kill()
		time.Sleep(3 * time.Second)
		// Its results queue came back on another node: an order that waits
		// for its outcome gets it.
		deadline := time.Now().Add(30 * time.Second)
		for {
			st, o := waiter.order(other.ID, 1, "waiter", 10)
			if st == http.StatusOK && o.Final() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("gateway 1 answers no outcome 30 s after its node went: %d %+v", st, o)
			}
		}
		n.Restart()
	})
	c.sale("rolling-restart", bases, func(int64) {
		for _, n := range c.nodes {
			n.Stop()
			n.Restart()
		}
	})
}

// TestClusterCarriesOnWithANodeDown: with one node of three down for good,
// the other two hold a quorum of every queue and the sale goes on.
func TestClusterCarriesOnWithANodeDown(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.startWorker(nil)
	c.startWorker(nil)
	_, base1 := c.startGateway(nil)
	_, base2 := c.startGateway(nil)
	c.sale("node-down", []string{base1, base2}, func(int64) {
		t.Logf("killing %s for good", c.nodes[2].Name)
		c.nodes[2].Kill()
	})
	// And a whole sale with it down.
	c.sale("node-still-down", []string{base1, base2}, func(int64) {})
}

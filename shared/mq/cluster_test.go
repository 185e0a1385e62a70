package mq

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/testenv"
)

// queueReplicas is a quorum queue's members and leader, as rabbitmqctl
// lists them.
type queueReplicas struct {
	Name    string   `json:"name"`
	Members []string `json:"members"`
	Leader  string   `json:"leader"`
}

func listReplicas(t *testing.T, n *testenv.RabbitMQNode, vhost string) map[string]queueReplicas {
	t.Helper()
	out := n.Ctl(t, "list_queues", "--vhost", vhost, "--formatter", "json", "-q", "name", "members", "leader")
	var qs []queueReplicas
	if err := json.Unmarshal([]byte(out), &qs); err != nil {
		t.Fatalf("list_queues: %v: %s", err, out)
	}
	byName := map[string]queueReplicas{}
	for _, q := range qs {
		byName[q.Name] = q
	}
	return byName
}

// TestQuorumQueuesOnACluster declares the topology on a cluster of three
// nodes of the test's own: each quorum queue has QUORUM_SIZE members, or
// every node when the size is larger, and the shard queues' leaders spread
// over the nodes. With one node killed, Dial of the three connects to the
// others and the shards it led take orders again.
func TestQuorumQueuesOnACluster(t *testing.T) {
	t.Parallel()
	nodes := testenv.StartRabbitMQCluster(t, 3)
	urls := func(vhost string) string {
		var us []string
		for _, n := range nodes {
			us = append(us, fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/%s", n.Port, vhost))
		}
		return strings.Join(us, ",")
	}
	log, _ := newLog()
	for _, tt := range []struct {
		vhost             string
		shards, size, has int
	}{
		{"two", 6, 2, 2},
		{"five", 3, 5, 3}, // more than the cluster has: every node
	} {
		nodes[0].Ctl(t, "add_vhost", tt.vhost)
		nodes[0].Ctl(t, "set_permissions", "--vhost", tt.vhost, "guest", ".*", ".*", ".*")
		conn, err := Dial(urls(tt.vhost), "mq cluster test")
		if err != nil {
			t.Fatal(err)
		}
		err = DeclareTopology(conn, Topology{Shards: tt.shards, MaxLength: 100, QuorumSize: tt.size}, log)
		conn.Close()
		if err != nil {
			t.Fatalf("declare on %s: %v", tt.vhost, err)
		}
		queues := listReplicas(t, nodes[0], tt.vhost)
		leaders := map[string]int{}
		for n := range tt.shards {
			q := queues[message.ShardQueue(n)]
			if len(q.Members) != tt.has || !slices.Contains(q.Members, q.Leader) {
				t.Errorf("QUORUM_SIZE %d: %s has members %v and leader %s, want %d members", tt.size, q.Name, q.Members, q.Leader, tt.has)
			}
			leaders[q.Leader]++
		}
		if d := queues[message.DeadQueue]; len(d.Members) != tt.has {
			t.Errorf("QUORUM_SIZE %d: %s has members %v", tt.size, message.DeadQueue, d.Members)
		}
		for _, n := range nodes {
			if leaders[n.Name] != tt.shards/len(nodes) {
				t.Errorf("QUORUM_SIZE %d: the shard queues' leaders are %v, want %d on each node", tt.size, leaders, tt.shards/len(nodes))
				break
			}
		}
	}

	// Node 0 goes: the others still take every shard's messages, each
	// queue having two of its three members.
	nodes[0].Kill()
	start := time.Now()
	for range 5 {
		conn, err := Dial(urls("five"), "mq cluster test")
		if err != nil {
			t.Fatalf("Dial with node 0 down: %v", err)
		}
		conn.Close()
	}
	p := startPublisher(t, urls("five"), Topology{Shards: 3, MaxLength: 100, QuorumSize: 5}, log)
	// A queue whose leader was on node 0 elects another: until then a
	// publish to it is refused or not confirmed.
	for n := range 3 {
		for {
			err := p.Publish(t.Context(), message.OrdersExchange, message.RoutingKey(n), amqp.Publishing{Body: []byte("x")})
			if err == nil {
				break
			}
			if time.Since(start) > time.Minute {
				t.Fatalf("publish to shard %d a minute after node 0 went: %v", n, err)
			}
		}
	}
	t.Logf("every shard took a message %v after node 0 went", time.Since(start).Round(time.Millisecond))
	nodes[0].Restart()
	if got := listReplicas(t, nodes[1], "five"); got[message.ShardQueue(0)].Leader == "" {
		t.Errorf("no leader for %s after node 0 came back: %+v", message.ShardQueue(0), got)
	}
}

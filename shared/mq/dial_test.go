package mq

import (
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/orderq/orderq/shared/testenv"
)

// TestDialSpreadsOverTheNodesAndSkipsALostOne: of a cluster's nodes (here
// the test broker reached directly and through a proxy of its own port, so
// that each connection tells which it took), Dial starts at a random one,
// and a node that does not answer is passed over for the next.
func TestDialSpreadsOverTheNodesAndSkipsALostOne(t *testing.T) {
	direct := testenv.Vhost(t)
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, u.Host)
	viaProxy := *u
	viaProxy.Host = proxy.Addr()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lost := *u
	lost.Host = dead.Addr().String()
	dead.Close() // nothing listens there now

	took := func(urls string) string {
		t.Helper()
		conn, err := Dial(urls, "mq test")
		if err != nil {
			t.Fatalf("Dial(%s): %v", urls, err)
		}
		defer conn.Close()
		return conn.RemoteAddr().String()
	}
	seen := map[string]int{}
	for range 40 {
		seen[took(direct+","+viaProxy.String())]++
	}
	if seen[u.Host] == 0 || seen[proxy.Addr()] == 0 {
		t.Errorf("40 dials of two nodes took %v: want both", seen)
	}
	for range 10 {
		if got := took(lost.String() + ", " + direct); got != u.Host {
			t.Errorf("with the first node lost, connected to %s, want %s", got, u.Host)
		}
	}
	_, err = Dial(lost.String()+","+lost.String(), "mq test")
	if err == nil || !strings.Contains(err.Error(), "no node of 2 answered") {
		t.Errorf("Dial of two lost nodes: %v, want an error naming both", err)
	}
}

package testenv

import (
	"bufio"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// echoServer echoes lines until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { io.Copy(c, c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// roundTrip sends a line and reads it back; it reports whether that worked.
func roundTrip(c net.Conn) bool {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "ping\n"
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestProxyCutAndRestore(t *testing.T) {
	p := NewProxy(t, echoServer(t))

	before := dial(t, p.Addr())
	if !roundTrip(before) {
		t.Fatal("no round trip through the proxy")
	}
	p.Cut()
	if roundTrip(before) {
		t.Error("a connection made before the cut still works after it")
	}
	if roundTrip(dial(t, p.Addr())) {
		t.Error("a connection made during the cut works")
	}
	p.Restore()
	if roundTrip(before) {
		t.Error("a connection cut earlier came back after Restore")
	}
	if !roundTrip(dial(t, p.Addr())) {
		t.Error("a connection made after Restore does not work")
	}
}

package testenv

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy in front of a real server, for fault tests: point a
// process under test at Addr instead of the server, then Cut the line and
// Restore it while the process works. It closes everything it opened when the
// test ends.
type Proxy struct {
	t      testing.TB
	target string
	ln     net.Listener

	mu     sync.Mutex
	cut    bool
	epoch  int // counts Cuts, so a connection dialled across one never survives it
	closed bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// NewProxy listens on a free port of 127.0.0.1 and forwards every connection
// to target.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &Proxy{t: t, target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every connection through the proxy, both ways, and closes each
// new one as soon as it is accepted, until Restore: to the client the server
// is gone.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	p.epoch++
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// Restore lets new connections through again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	p.ln.Close()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		down, err := p.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.t.Logf("proxy accept: %v", err)
			}
			return
		}
		p.mu.Lock()
		cut, epoch := p.cut || p.closed, p.epoch
		if !cut {
			p.wg.Add(1)
		}
		p.mu.Unlock()
		if cut {
			down.Close()
			continue
		}
		go p.serve(down, epoch)
	}
}

// serve connects down to the target and copies both ways until either side
// closes or the line is cut.
func (p *Proxy) serve(down net.Conn, epoch int) {
	defer p.wg.Done()
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		down.Close()
		return
	}
	// Register both ends unless a Cut (or the end of the test) came while
	// dialling: then the connection must not survive it.
	p.mu.Lock()
	if p.cut || p.closed || p.epoch != epoch {
		p.mu.Unlock()
		up.Close()
		down.Close()
		return
	}
	p.conns[up], p.conns[down] = struct{}{}, struct{}{}
	p.mu.Unlock()

	var once sync.Once
	done := func() {
		once.Do(func() {
			p.mu.Lock()
			delete(p.conns, up)
			delete(p.conns, down)
			p.mu.Unlock()
			up.Close()
			down.Close()
		})
	}
	var copies sync.WaitGroup
	copies.Go(func() { io.Copy(up, down); done() })
	copies.Go(func() { io.Copy(down, up); done() })
	copies.Wait()
}

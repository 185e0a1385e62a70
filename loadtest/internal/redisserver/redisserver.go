// Package redisserver runs a redis-server of the load tester's own, for the
// redis strategy of a comparison and for its tests: on a free port of
// 127.0.0.1, keeping nothing on disk (no snapshots, no append-only file), so
// that once Kill has crashed it, Restart brings it back empty, as a Redis without
// persistence comes back from a crash. It is stopped by its pid, never by
// name: the machine may run other Redis servers.
package redisserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNotInstalled is a machine without redis-server on its PATH.
var ErrNotInstalled = errors.New("redis-server is not installed (apt-get install redis-server)")

// Program returns the path of redis-server.
func Program() (string, error) {
	p, err := exec.LookPath("redis-server")
	if err != nil {
		return "", ErrNotInstalled
	}
	return p, nil
}

// Server is a running redis-server, or one Kill crashed.
type Server struct {
	Addr string // 127.0.0.1:port

	program string
	cmd     *exec.Cmd // nil once killed or stopped
	exited  chan struct{}
	out     *bytes.Buffer // what it printed; read only once it exited
}

// startTimeout bounds how long a start waits for the server to answer.
const startTimeout = 10 * time.Second

// Start runs redis-server on a free port and returns once it answers PING.
func Start(ctx context.Context) (*Server, error) {
	program, err := Program()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &Server{Addr: addr, program: program}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// URL is the server's address as go-redis reads it.
func (s *Server) URL() string { return "redis://" + s.Addr }

// Pid is the server's process id; 0 when it is not running.
func (s *Server) Pid() int {
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

func (s *Server) start(ctx context.Context) error {
	_, port, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.program, "--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", os.TempDir(), "--loglevel", "warning")
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited, s.out = cmd, exited, out

	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("redis-server on port %s exited at start: %s", port, strings.TrimSpace(out.String()))
		default:
		}
		if ping(s.Addr) == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.Kill()
			return fmt.Errorf("redis-server on port %s did not answer within %s: %s", port, startTimeout, strings.TrimSpace(s.out.String()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ping sends PING on a connection of its own.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// Kill crashes the server (SIGKILL: nothing saved, nothing closed) and
// returns once it is gone.
func (s *Server) Kill() error {
	if s.cmd == nil {
		return errors.New("redis-server is not running")
	}
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill redis-server (pid %d): %w", s.cmd.Process.Pid, err)
	}
	<-s.exited
	s.cmd = nil
	return nil
}

// Restart starts the server Kill crashed again on its port, empty, and
// returns once it answers.
func (s *Server) Restart(ctx context.Context) error {
	if s.cmd != nil {
		return errors.New("redis-server is running: Kill it first")
	}
	return s.start(ctx)
}

// stopTimeout is how long Stop waits after SIGTERM before it kills.
const stopTimeout = 10 * time.Second

// Stop ends the server (SIGTERM, then SIGKILL if it is still there after
// stopTimeout); a server Kill crashed is stopped already.
func (s *Server) Stop() error {
	if s.cmd == nil {
		return nil
	}
	pid := s.cmd.Process.Pid
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop redis-server (pid %d): %w", pid, err)
	}
	select {
	case <-s.exited:
		s.cmd = nil
		return nil
	case <-time.After(stopTimeout):
	}
	err := s.Kill()
	if err == nil {
		err = fmt.Errorf("redis-server (pid %d) did not stop within %s of SIGTERM; killed", pid, stopTimeout)
	}
	return err
}

// String names the server for messages.
func (s *Server) String() string {
	if pid := s.Pid(); pid != 0 {
		return "redis-server " + s.Addr + " (pid " + strconv.Itoa(pid) + ")"
	}
	return "redis-server " + s.Addr
}

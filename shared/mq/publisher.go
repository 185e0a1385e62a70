package mq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// ErrUnavailable means the broker did not take the message: it is unreachable,
// blocked by a resource alarm, refused it, or did not confirm it in time. The
// caller must not tell anyone the message was accepted.
var ErrUnavailable = errors.New("broker unavailable")

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	URL  string
	Name string // connection name shown in the dashboard
	// Setup runs on every new connection before publishing starts (declare the
	// topology here), on channels of its own: a declaration the broker refuses
	// closes its channel.
	Setup func(*amqp.Connection) error
	// Window bounds the messages published and not yet confirmed; further
	// publishers wait for a place. 0 means 1024.
	Window int
	// ConfirmTimeout bounds the wait for one confirm. 0 means 5 s.
	ConfirmTimeout time.Duration
}

// Publisher publishes with publisher confirms over a connection it keeps alive.
// It is safe for concurrent use.
type Publisher struct {
	cfg    PublisherConfig
	log    *slog.Logger
	window chan struct{}

	ch      atomic.Pointer[amqp.Channel] // nil while disconnected
	blocked atomic.Bool
	// onBlock is closed when the connection gets blocked: a broker blocks a
	// connection only once it publishes during an alarm, so the publishes
	// waiting for their confirms learn of it here rather than at their timeout.
	onBlock atomic.Pointer[chan struct{}]

	mu        sync.Mutex
	connected chan struct{} // closed once a channel is up, replaced on loss

	// refusedSince is when the broker began to refuse or leave unconfirmed
	// every publish, in Unix nanoseconds, 0 while it confirms some; redial
	// asks serve for another connection once that lasts a ConfirmTimeout.
	refusedSince atomic.Int64
	redial       chan struct{}
}

// NewPublisher returns a Publisher; call Run to connect it.
func NewPublisher(cfg PublisherConfig, log *slog.Logger) *Publisher {
	if cfg.Window <= 0 {
		cfg.Window = 1024
	}
	if cfg.ConfirmTimeout <= 0 {
		cfg.ConfirmTimeout = 5 * time.Second
	}
	return &Publisher{cfg: cfg, log: log, window: make(chan struct{}, cfg.Window), connected: make(chan struct{}),
		redial: make(chan struct{}, 1)}
}

// Run keeps the publisher connected until ctx is done.
func (p *Publisher) Run(ctx context.Context) { Reconnect(ctx, p.log, "broker connection", p.serve) }

// serve connects and publishes until the connection or channel closes. served
// reports whether the connection got as far as publishing.
func (p *Publisher) serve(ctx context.Context) (served bool, err error) {
	conn, err := Dial(p.cfg.URL, p.cfg.Name)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	if p.cfg.Setup != nil {
		if err := p.cfg.Setup(conn); err != nil {
			return false, err
		}
	}
	ch, err := conn.Channel()
	if err != nil {
		return false, fmt.Errorf("open channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		return false, fmt.Errorf("confirm mode: %w", err)
	}
	connClosed := conn.NotifyClose(make(chan *amqp.Error, 1))
	chClosed := ch.NotifyClose(make(chan *amqp.Error, 1))
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 4))

	p.setBlocked(false)
	select { // a wish for another connection was for the last one
	case <-p.redial:
	default:
	}
	p.refusedSince.Store(0)
	p.ch.Store(ch)
	p.mu.Lock()
	close(p.connected)
	p.mu.Unlock()
	p.log.Info("broker connected", "connection", p.cfg.Name)
	defer func() {
		p.ch.Store(nil)
		p.mu.Lock()
		p.connected = make(chan struct{})
		p.mu.Unlock()
	}()

	for {
		select {
		case <-ctx.Done():
			return true, nil
		case b, ok := <-blocked:
			if ok {
				p.setBlocked(b.Active)
				p.log.Warn("broker flow control", "blocked", b.Active, "reason", b.Reason)
			}
		case e := <-connClosed:
			return true, closeErr("connection", e)
		case e := <-chClosed:
			return true, closeErr("channel", e)
		case <-p.redial:
			return true, fmt.Errorf("the broker refused or left unconfirmed every publish for %s: another connection, perhaps to another node", p.cfg.ConfirmTimeout)
		}
	}
}

// settled records how the broker settled a publish: confirmed, or refused
// or left unconfirmed. A connection whose every publish fails for a
// ConfirmTimeout is given up for another: on a cluster, a node that lost
// sight of a queue's leader may refuse its publishes while the others take
// them.
func (p *Publisher) settled(confirmed bool) {
	if confirmed {
		p.refusedSince.Store(0)
		return
	}
	now := time.Now().UnixNano()
	since := p.refusedSince.Load()
	switch {
	case since == 0:
		p.refusedSince.CompareAndSwap(0, now)
	case time.Duration(now-since) >= p.cfg.ConfirmTimeout && p.refusedSince.CompareAndSwap(since, 0):
		select {
		case p.redial <- struct{}{}:
		default:
		}
	}
}

func (p *Publisher) setBlocked(blocked bool) {
	p.blocked.Store(blocked)
	if blocked {
		if c := p.onBlock.Swap(nil); c != nil {
			close(*c)
		}
	}
}

// blockSignal returns a channel closed when the connection gets blocked.
func (p *Publisher) blockSignal() <-chan struct{} {
	for {
		if c := p.onBlock.Load(); c != nil {
			return *c
		}
		c := make(chan struct{})
		if p.onBlock.CompareAndSwap(nil, &c) {
			return c
		}
	}
}

func closeErr(what string, e *amqp.Error) error {
	if e == nil {
		return fmt.Errorf("%s closed", what)
	}
	return fmt.Errorf("%s closed: %w", what, e)
}

// Ready reports whether a publish could be confirmed now: connected and not
// blocked by a resource alarm.
func (p *Publisher) Ready() bool { return p.ch.Load() != nil && !p.blocked.Load() }

// WaitReady waits until the publisher is connected or ctx is done.
func (p *Publisher) WaitReady(ctx context.Context) error {
	p.mu.Lock()
	c := p.connected
	p.mu.Unlock()
	select {
	case <-c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Publish sends msg and returns nil only once the broker confirmed it. It fails
// fast with ErrUnavailable when disconnected or blocked, and never waits for a
// confirm longer than the configured timeout.
func (p *Publisher) Publish(ctx context.Context, exchange, key string, msg amqp.Publishing) error {
	if p.blocked.Load() {
		return fmt.Errorf("%w: connection blocked by a resource alarm", ErrUnavailable)
	}
	ch := p.ch.Load()
	if ch == nil {
		return fmt.Errorf("%w: not connected", ErrUnavailable)
	}
	select {
	case p.window <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.window }()

	block := p.blockSignal()
	if p.blocked.Load() {
		return fmt.Errorf("%w: connection blocked by a resource alarm", ErrUnavailable)
	}
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, false, false, msg)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	timeout := time.NewTimer(p.cfg.ConfirmTimeout)
	defer timeout.Stop()
	select {
	case <-dc.Done():
		p.settled(dc.Acked())
		if !dc.Acked() {
			return fmt.Errorf("%w: broker refused the message", ErrUnavailable)
		}
		return nil
	case <-block:
		return fmt.Errorf("%w: connection blocked by a resource alarm", ErrUnavailable)
	case <-timeout.C:
		p.settled(false)
		return fmt.Errorf("%w: no confirm within %s", ErrUnavailable, p.cfg.ConfirmTimeout)
	case <-ctx.Done():
		return fmt.Errorf("%w: no confirm: %v", ErrUnavailable, ctx.Err())
	}
}

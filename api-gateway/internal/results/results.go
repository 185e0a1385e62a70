// Package results keeps what this gateway knows of orders and item commands:
// the newest state of every order the workers and the gateways announce to
// every gateway (its decision, a part decided, a release, a payment, a
// status move, …), the outcomes of item commands, and the orders this
// instance accepted that no announcement has reached yet. Waiters (long polls,
// Prefer: wait, stock changes) are woken the moment a final result arrives.
package results

import (
	"context"
	"sync"
	"time"

	"github.com/orderq/orderq/api-gateway/internal/recent"
	"github.com/orderq/orderq/shared/message"
)

// Cache is safe for concurrent use. Both maps are bounded LRUs with a TTL: the
// database is the truth, the cache only spares it the hot reads.
type Cache struct {
	// latest holds the newest result per id: an order's newest state, final
	// or not, or an item command's outcome.
	latest  *recent.Cache[string, message.Result]
	pending *recent.Cache[string, message.Order]

	mu      sync.Mutex
	waiters map[string][]chan struct{}

	// closed is closed by Close: the gateway shuts down, and nobody waits.
	closed    chan struct{}
	closeOnce sync.Once
}

// Sizes of a Cache. Results are kept briefly, for the reads right after a
// change (waiting requests get theirs directly); pending orders are kept
// long, as they must be answered for however long the worker takes.
const (
	latestSize  = 20_000
	latestTTL   = time.Minute
	pendingSize = 200_000
	pendingTTL  = time.Hour
)

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{
		latest:  recent.New[string, message.Result](latestSize, latestTTL),
		pending: recent.New[string, message.Order](pendingSize, pendingTTL),
		waiters: map[string][]chan struct{}{},
		closed:  make(chan struct{}),
	}
}

// Accepted records an order this gateway accepted, until a state of it
// arrives.
func (c *Cache) Accepted(o message.Order) {
	if _, known := c.latest.Peek(o.ID); !known {
		c.pending.Add(o.ID, o)
	}
}

// Order returns what the cache knows of an order: its newest announced state
// (final or not), else its pending state if this gateway accepted it.
func (c *Cache) Order(id string) (message.Order, bool) {
	if r, ok := c.latest.Get(id); ok && r.Order != nil {
		return *r.Order, true
	}
	return c.pending.Get(id)
}

// Result returns the result of a command once it is final: an item
// command's outcome, or its order decided.
func (c *Cache) Result(id string) (message.Result, bool) {
	if r, ok := c.latest.Get(id); ok && final(r) {
		return r, true
	}
	return message.Result{}, false
}

// final reports whether r is an outcome a waiter waits for: an order decided
// (whatever happened to it since), or an item command's.
func final(r message.Result) bool { return r.Order == nil || r.Order.Final() }

// newer reports whether r is a newer state than old, of the same order. An
// order's states are ordered by UpdatedAt: every writer stamps its change
// later than the state it changed (see order.UpdatedAfter), so results that
// cross on their way (a gateway's cancellation and the worker's release of
// its stock) are sorted out here. Two states with the same UpdatedAt are the
// same state, published twice (a redelivery) — save one written by a version
// that did not stamp so: then a decided state is kept over a pending one, and
// otherwise the later arrival wins.
func newer(r, old message.Result) bool {
	if old.Order == nil || r.Order == nil {
		return true
	}
	switch n, o := r.Order.UpdatedAt, old.Order.UpdatedAt; {
	case n.After(o):
		return true
	case n.Before(o):
		return false
	}
	return r.Order.Final() || !old.Order.Final()
}

// Deliver stores results, each unless the cache holds a newer state of its
// order, and wakes the waiters of those that are final.
func (c *Cache) Deliver(rs []message.Result) {
	for i := range rs {
		if old, ok := c.latest.Peek(rs[i].ID); ok && !newer(rs[i], old) {
			continue
		}
		c.latest.Add(rs[i].ID, rs[i])
		c.pending.Remove(rs[i].ID)
	}
	c.mu.Lock()
	for i := range rs {
		if !final(rs[i]) {
			continue // a cart some of whose parts are decided: still pending
		}
		for _, w := range c.waiters[rs[i].ID] {
			close(w)
		}
		delete(c.waiters, rs[i].ID)
	}
	c.mu.Unlock()
}

// ForgetOrders drops every order state the cache holds, keeping the orders
// this gateway accepted: a subscription that (re)starts missed what was
// announced while it was down, so those states may be stale, and the
// database answers until new announcements arrive.
func (c *Cache) ForgetOrders() {
	for _, id := range c.latest.Keys() {
		if r, ok := c.latest.Peek(id); ok && r.Order != nil {
			c.latest.Remove(id)
		}
	}
}

// Wait returns id's result once it is final (see Result), or false when
// timeout passes or ctx ends first. Every interval it also asks poll, which
// finds results that reached the database but not this cache (a gateway
// reconnecting to the broker misses the results published meanwhile).
func (c *Cache) Wait(ctx context.Context, id string, timeout, interval time.Duration, poll func() (message.Result, bool)) (message.Result, bool) {
	w := make(chan struct{})
	c.mu.Lock()
	c.waiters[id] = append(c.waiters[id], w)
	c.mu.Unlock()
	defer c.forget(id, w)

	if r, ok := c.Result(id); ok {
		return r, true
	}
	// One timer for both the polls and the deadline: thousands of requests
	// wait at once under a crowd.
	deadline := time.Now().Add(timeout)
	t := time.NewTimer(min(interval, timeout))
	defer t.Stop()
	for {
		select {
		case <-w:
			return c.Result(id)
		case <-ctx.Done():
			return message.Result{}, false
		case <-c.closed:
			return c.Result(id)
		case <-t.C:
			left := time.Until(deadline)
			if left <= 0 {
				return message.Result{}, false
			}
			if poll != nil {
				if r, ok := poll(); ok {
					return r, true
				}
			}
			t.Reset(min(interval, left))
		}
	}
}

func (c *Cache) forget(id string, w chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ws := c.waiters[id]
	for i := range ws {
		if ws[i] == w {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(c.waiters, id)
	} else {
		c.waiters[id] = ws
	}
}

// Close ends every wait, now and later, with what is known: the gateway shuts
// down, and a request waiting up to 30 s for an outcome must not hold the
// shutdown up. One channel for all waiters costs a wait nothing.
func (c *Cache) Close() { c.closeOnce.Do(func() { close(c.closed) }) }

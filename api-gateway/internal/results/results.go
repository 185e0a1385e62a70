// Package results keeps what this gateway knows of orders and item commands:
// the final results every worker fans out to every gateway, and the orders this
// instance accepted that are not final yet. Waiters (long polls, Prefer: wait,
// stock changes) are woken the moment a result arrives.
package results

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/orderq/orderq/shared/message"
)

// Cache is safe for concurrent use. Both maps are bounded LRUs with a TTL: the
// database is the truth, the cache only spares it the hot reads.
type Cache struct {
	final   *expirable.LRU[string, message.Result]
	pending *expirable.LRU[string, message.Order]

	mu      sync.Mutex
	waiters map[string][]chan struct{}
}

// Sizes of a Cache. Results are kept briefly, for the reads right after a
// decision (waiting requests get theirs directly); pending orders are kept
// long, as they must be answered for however long the worker takes.
const (
	finalSize   = 20_000
	finalTTL    = time.Minute
	pendingSize = 200_000
	pendingTTL  = time.Hour
)

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{
		final:   expirable.NewLRU[string, message.Result](finalSize, nil, finalTTL),
		pending: expirable.NewLRU[string, message.Order](pendingSize, nil, pendingTTL),
		waiters: map[string][]chan struct{}{},
	}
}

// Accepted records an order this gateway accepted, until its result arrives.
func (c *Cache) Accepted(o message.Order) {
	if _, done := c.final.Peek(o.ID); !done {
		c.pending.Add(o.ID, o)
	}
}

// Order returns what the cache knows of an order: its final state, else its
// pending state if this gateway accepted it.
func (c *Cache) Order(id string) (message.Order, bool) {
	if r, ok := c.final.Get(id); ok && r.Order != nil {
		return *r.Order, true
	}
	return c.pending.Get(id)
}

// Result returns the result of a command, if it arrived.
func (c *Cache) Result(id string) (message.Result, bool) {
	return c.final.Get(id)
}

// Deliver stores results and wakes their waiters.
func (c *Cache) Deliver(rs []message.Result) {
	for i := range rs {
		// An order changes after its decision (paid, canceled, …): keep the
		// newest state when announcements cross.
		if old, ok := c.final.Peek(rs[i].ID); ok && old.Order != nil && rs[i].Order != nil &&
			old.Order.UpdatedAt.After(rs[i].Order.UpdatedAt) {
			continue
		}
		c.final.Add(rs[i].ID, rs[i])
		c.pending.Remove(rs[i].ID)
	}
	c.mu.Lock()
	for i := range rs {
		for _, w := range c.waiters[rs[i].ID] {
			close(w)
		}
		delete(c.waiters, rs[i].ID)
	}
	c.mu.Unlock()
}

// Wait returns id's result once it arrives, or false when timeout passes or
// ctx ends first. Every interval it also asks poll, which finds results that
// reached the database but not this cache (a gateway reconnecting to the
// broker misses the results published meanwhile).
func (c *Cache) Wait(ctx context.Context, id string, timeout, interval time.Duration, poll func() (message.Result, bool)) (message.Result, bool) {
	w := make(chan struct{})
	c.mu.Lock()
	c.waiters[id] = append(c.waiters[id], w)
	c.mu.Unlock()
	defer c.forget(id, w)

	if r, ok := c.final.Get(id); ok {
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
			return c.final.Get(id)
		case <-ctx.Done():
			return message.Result{}, false
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

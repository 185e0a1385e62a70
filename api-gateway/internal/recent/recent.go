// Package recent is a cache of what was added last: at most a size of
// entries, each forgotten a TTL after it was added, and the least recently
// used dropped first when it is full.
//
// Its memory is bounded by its size, whatever the rate of additions: it is a
// plain LRU whose entries carry the time they were added, and an expired
// entry is dropped when it is next read, or evicted as any other. (The
// expirable LRU of golang-lru keeps its entries in a hundred expiry buckets,
// maps that keep the room of the largest burst they ever held, as Go's maps
// do not shrink: the gateway's heap grew sale after sale under a crowd, and
// the collector's work with it.)
package recent

import (
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Cache is safe for concurrent use.
type Cache[K comparable, V any] struct {
	lru *lru.Cache[K, entry[V]]
	ttl time.Duration
}

type entry[V any] struct {
	value V
	added time.Time
}

// New returns an empty cache of at most size entries (at least 1), each kept
// for ttl.
func New[K comparable, V any](size int, ttl time.Duration) *Cache[K, V] {
	c, err := lru.New[K, entry[V]](max(size, 1))
	if err != nil {
		panic(err) // only for a size below 1
	}
	return &Cache[K, V]{lru: c, ttl: ttl}
}

// Add adds or replaces the value of k, for the cache's TTL from now.
func (c *Cache[K, V]) Add(k K, v V) { c.lru.Add(k, entry[V]{value: v, added: time.Now()}) }

// Get returns the value of k, marking it used, unless it expired.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	e, ok := c.lru.Get(k)
	return c.live(k, e, ok)
}

// Peek returns the value of k, unless it expired, without marking it used.
func (c *Cache[K, V]) Peek(k K) (V, bool) {
	e, ok := c.lru.Peek(k)
	return c.live(k, e, ok)
}

func (c *Cache[K, V]) live(k K, e entry[V], ok bool) (V, bool) {
	if ok && time.Since(e.added) <= c.ttl {
		return e.value, true
	}
	if ok {
		c.lru.Remove(k)
	}
	var zero V
	return zero, false
}

// Remove forgets k.
func (c *Cache[K, V]) Remove(k K) { c.lru.Remove(k) }

// Len returns how many entries the cache holds, expired ones included until
// they are read or evicted.
func (c *Cache[K, V]) Len() int { return c.lru.Len() }

// Keys returns the keys the cache holds, the oldest first, expired ones
// included.
func (c *Cache[K, V]) Keys() []K { return c.lru.Keys() }

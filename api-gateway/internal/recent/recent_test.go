package recent

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	t.Parallel()
	c := New[string, int](2, time.Hour)
	c.Add("a", 1)
	c.Add("b", 2)
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Fatalf("Get(a) = %d, %v", v, ok)
	}
	c.Add("c", 3) // b is the least recently used
	if _, ok := c.Peek("b"); ok {
		t.Error("b kept past the size")
	}
	for k, want := range map[string]int{"a": 1, "c": 3} {
		if v, ok := c.Peek(k); !ok || v != want {
			t.Errorf("Peek(%s) = %d, %v; want %d", k, v, ok, want)
		}
	}
	c.Remove("a")
	if _, ok := c.Get("a"); ok || c.Len() != 1 {
		t.Errorf("after Remove(a): found, or %d entries", c.Len())
	}
}

func TestCacheForgetsAfterItsTTL(t *testing.T) {
	t.Parallel()
	c := New[int, string](10, 20*time.Millisecond)
	c.Add(1, "one")
	if _, ok := c.Get(1); !ok {
		t.Fatal("lost at once")
	}
	time.Sleep(40 * time.Millisecond)
	if _, ok := c.Peek(1); ok {
		t.Error("Peek found an expired entry")
	}
	c.Add(2, "two")
	time.Sleep(40 * time.Millisecond)
	if _, ok := c.Get(2); ok || c.Len() != 0 {
		t.Errorf("Get found an expired entry, or %d entries left", c.Len())
	}
}

// TestCacheMemoryIsBoundedBySize adds a burst far larger than the cache, in
// rounds: the heap it holds stays that of its size.
func TestCacheMemoryIsBoundedBySize(t *testing.T) {
	c := New[string, [64]byte](1000, time.Minute)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	var after []uint64
	for round := range 5 {
		for i := range 200_000 {
			c.Add(fmt.Sprint(round, "-", i), [64]byte{})
		}
		after = append(after, heap())
	}
	if c.Len() != 1000 {
		t.Fatalf("%d entries, want 1000", c.Len())
	}
	if after[4] > after[0]+after[0]/2 {
		t.Errorf("heap after each round of 200,000 additions: %v bytes; it grows", after)
	}
}

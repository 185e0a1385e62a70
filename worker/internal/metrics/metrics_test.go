package metrics

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/orderq/orderq/shared/items"
	"github.com/orderq/orderq/shared/shard"
)

// stocks returns the items ItemStock shows, with their stock.
func stocks(t *testing.T, m *Metrics) map[int64]float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]float64{}
	for _, f := range families {
		if f.GetName() != "orderq_worker_item_stock" {
			continue
		}
		for _, s := range f.GetMetric() {
			id, err := strconv.ParseInt(s.GetLabel()[0].GetValue(), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			got[id] = s.GetGauge().GetValue()
		}
	}
	return got
}

// itemsOn returns n item ids of shard s of shards.
func itemsOn(s, shards, n int) []int64 {
	var ids []int64
	for id := int64(1); len(ids) < n; id++ {
		if shard.Of(id, shards) == s {
			ids = append(ids, id)
		}
	}
	return ids
}

func TestItemStockKeepsEachShardsHotItems(t *testing.T) {
	const shards = 2
	m := New("test", shards)
	zero, one := itemsOn(0, shards, HotItems+2), itemsOn(1, shards, 1)
	for i, id := range zero {
		m.StockChanged([]*items.Row{{ID: id, Stock: int64(100 + i)}})
	}
	m.StockChanged([]*items.Row{{ID: one[0], Stock: 7}})
	got := stocks(t, m)
	want := map[int64]float64{one[0]: 7}
	for i, id := range zero[2:] {
		want[id] = float64(102 + i)
	}
	if len(got) != len(want) {
		t.Fatalf("ItemStock shows %v, want %v: shard 0's %d changed last and shard 1's one", got, want, HotItems)
	}
	for id, v := range want {
		if got[id] != v {
			t.Errorf("item %d: stock %v, want %v", id, got[id], v)
		}
	}

	// A change brings an item back, in place of the one changed longest
	// ago; a deletion removes an item.
	m.StockChanged([]*items.Row{{ID: zero[0], Stock: 1}})
	now := time.Now()
	m.StockChanged([]*items.Row{{ID: zero[5], Stock: 0, DeletedAt: &now}})
	got = stocks(t, m)
	if got[zero[0]] != 1 {
		t.Errorf("item %d changed again: not shown with stock 1 (%v)", zero[0], got)
	}
	if _, ok := got[zero[2]]; ok {
		t.Errorf("item %d, changed longest ago, still shown", zero[2])
	}
	if _, ok := got[zero[5]]; ok {
		t.Errorf("deleted item %d still shown", zero[5])
	}
	if len(got) != HotItems {
		t.Errorf("ItemStock shows %d items, want %d: shard 0's %d after a deletion and shard 1's one", len(got), HotItems, HotItems-1)
	}

	m.ShardActive.WithLabelValues("0").Set(1)
	m.ForgetShard(0)
	got = stocks(t, m)
	if len(got) != 1 || got[one[0]] != 7 {
		t.Errorf("after shard 0 is forgotten ItemStock shows %v, want shard 1's item alone", got)
	}
	if n := testutil.CollectAndCount(m.ShardActive); n != 0 {
		t.Errorf("ShardActive has %d series after the shard is forgotten", n)
	}
	if !slices.Equal(m.hot[1], one) {
		t.Errorf("shard 1's hot items %v, want %v", m.hot[1], one)
	}
}

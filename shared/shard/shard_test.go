package shard

import "testing"

func TestOfIsPinned(t *testing.T) {
	// Changing Of silently would misroute every item of a running deployment, so
	// a change to it must fail here first.
	tests := []struct {
		id   int64
		n    int
		want int
	}{
		{id: 1, n: 4, want: 1},
		{id: 2, n: 4, want: 2},
		{id: 3, n: 4, want: 0},
		{id: 42, n: 4, want: 2},
		{id: 1000000, n: 4, want: 2},
		{id: 7, n: 1, want: 0},
	}
	for _, tt := range tests {
		if got := Of(tt.id, tt.n); got != tt.want {
			t.Errorf("Of(%d, %d) = %d, want %d", tt.id, tt.n, got, tt.want)
		}
	}
}

func TestOfSpreadsEvenly(t *testing.T) {
	const n, items = 4, 100000
	var counts [n]int
	for id := int64(1); id <= items; id++ {
		s := Of(id, n)
		if s < 0 || s >= n {
			t.Fatalf("Of(%d, %d) = %d, out of range", id, n, s)
		}
		counts[s]++
	}
	for s, c := range counts {
		if c < items/n*9/10 || c > items/n*11/10 {
			t.Errorf("shard %d got %d of %d items, want within 10%% of %d", s, c, items, items/n)
		}
	}
}

package order

import (
	"testing"
	"time"
)

func TestUpdatedAfter(t *testing.T) {
	prev := time.Date(2026, 5, 1, 10, 0, 0, 1000, time.UTC)
	tests := []struct {
		name string
		now  time.Time
		want time.Time
	}{
		{"later", prev.Add(time.Second), prev.Add(time.Second)},
		{"same microsecond", prev.Add(999 * time.Nanosecond), prev.Add(time.Microsecond)},
		{"same instant", prev, prev.Add(time.Microsecond)},
		{"a clock behind", prev.Add(-time.Minute), prev.Add(time.Microsecond)},
		{"truncated to the microsecond", prev.Add(1500 * time.Nanosecond), prev.Add(time.Microsecond)},
		{"in another zone", prev.Add(time.Hour).In(time.FixedZone("WIB", 7*3600)), prev.Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := UpdatedAfter(prev, tt.now)
			if !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Errorf("UpdatedAfter(%v, %v) = %v, want %v UTC", prev, tt.now, got, tt.want)
			}
			if !got.After(prev) {
				t.Errorf("%v is not after %v", got, prev)
			}
		})
	}
}

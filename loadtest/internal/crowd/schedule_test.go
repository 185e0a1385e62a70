package crowd

import (
	"context"
	"slices"
	"testing"
	"time"
)

// fakeClock moves only when slept on, and may be pushed ahead by a start, as
// a slow machine would be.
type fakeClock struct {
	now    time.Time
	slept  []time.Duration
	cancel func() // called when the clock passes stopAt, if set
	stopAt time.Time
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) bool {
	c.slept = append(c.slept, d)
	c.now = c.now.Add(d)
	if c.cancel != nil && !c.now.Before(c.stopAt) {
		c.cancel()
	}
	return ctx.Err() == nil
}

func TestScheduleRun(t *testing.T) {
	t0 := time.Date(2024, 12, 12, 0, 0, 0, 0, time.UTC)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	tests := []struct {
		name string
		n    int
		// take reports whether order i can start; push is how far the clock
		// jumps during the start of order i (a stalled scheduler).
		take func(i int) bool
		push map[int]time.Duration
		// stopAt cancels the run when the clock reaches it; 0 never.
		stopAt time.Duration

		wantStarted []int // orders started, in order
		wantAt      []time.Duration
		wantSlipped int
		wantLag     time.Duration
		wantEnded   time.Duration
	}{
		{
			name:        "every order on its slot",
			n:           4,
			take:        func(int) bool { return true },
			wantStarted: []int{0, 1, 2, 3},
			wantAt:      []time.Duration{0, ms(10), ms(20), ms(30)},
			wantEnded:   ms(40),
		},
		{
			name:        "orders due at the cap slip, the schedule goes on",
			n:           5,
			take:        func(i int) bool { return i != 1 && i != 2 },
			wantStarted: []int{0, 3, 4},
			wantAt:      []time.Duration{0, ms(30), ms(40)},
			wantSlipped: 2,
			wantEnded:   ms(50),
		},
		{
			name:        "a stall is caught up at once, and measured",
			n:           5,
			take:        func(int) bool { return true },
			push:        map[int]time.Duration{1: ms(25)},
			wantStarted: []int{0, 1, 2, 3, 4},
			// Order 1 started at 10 ms and took the clock to 35 ms: orders 2
			// and 3 were due at 20 and 30 ms, and start at once, 15 and 5 ms late.
			wantAt:    []time.Duration{0, ms(10), ms(35), ms(35), ms(40)},
			wantLag:   ms(15),
			wantEnded: ms(50),
		},
		{
			name:        "an end before the schedule's stops it",
			n:           10,
			take:        func(int) bool { return true },
			stopAt:      ms(25),
			wantStarted: []int{0, 1, 2},
			wantAt:      []time.Duration{0, ms(10), ms(20)},
			wantEnded:   ms(30),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			clk := &fakeClock{now: t0}
			if tt.stopAt > 0 {
				clk.cancel, clk.stopAt = cancel, t0.Add(tt.stopAt)
			}
			var started []int
			var at []time.Duration
			p := schedule{n: tt.n, interval: ms(10)}.run(ctx, clk, t0, func(i int) bool {
				if !tt.take(i) {
					return false
				}
				started = append(started, i)
				at = append(at, clk.now.Sub(t0))
				clk.now = clk.now.Add(tt.push[i])
				return true
			})
			if !slices.Equal(started, tt.wantStarted) || !slices.Equal(at, tt.wantAt) {
				t.Errorf("started %v at %v, want %v at %v", started, at, tt.wantStarted, tt.wantAt)
			}
			if p.started != len(tt.wantStarted) || p.slipped != tt.wantSlipped || p.lag != tt.wantLag {
				t.Errorf("pace = %d started, %d slipped, lag %v; want %d, %d, %v",
					p.started, p.slipped, p.lag, len(tt.wantStarted), tt.wantSlipped, tt.wantLag)
			}
			if got := p.ended.Sub(t0); got != tt.wantEnded {
				t.Errorf("ended at %v, want %v", got, tt.wantEnded)
			}
			for _, d := range clk.slept {
				if d <= 0 {
					t.Errorf("slept %v: a schedule never sleeps for nothing", d)
				}
			}
		})
	}
}

package crowd

import (
	"context"
	"time"
)

// clock is the time the open-loop schedule keeps; tests give it a fake one.
type clock interface {
	Now() time.Time
	// Sleep waits d or until ctx ends, and reports whether ctx is still live.
	Sleep(ctx context.Context, d time.Duration) bool
}

type realClock struct{}

func (realClock) Now() time.Time                                  { return time.Now() }
func (realClock) Sleep(ctx context.Context, d time.Duration) bool { return Sleep(ctx, d) }

// schedule is an open-loop arrival schedule: order i is due at
// begin + i·interval, whatever became of the orders before it. That is what
// a crowd is: buyers do not wait for each other's answers, so a slow system
// meets more of them at once instead of fewer (a closed loop would hide
// exactly that, the coordinated omission of load testing).
type schedule struct {
	n        int
	interval time.Duration
}

// pace is what running a schedule did.
type pace struct {
	started int
	slipped int           // due orders start refused: the in-flight cap was reached
	lag     time.Duration // the latest any order started after it was due
	ended   time.Time     // the end of the last order's slot
}

// run calls start(i) for every order when it is due; start returns false when
// it cannot take the order now, which counts as a slip: the order is not sent
// and the schedule moves on rather than falling behind. run returns at the end
// of the last slot, or early when ctx ends.
func (s schedule) run(ctx context.Context, clk clock, begin time.Time, start func(i int) bool) pace {
	var p pace
	for i := range s.n {
		due := begin.Add(time.Duration(i) * s.interval)
		if d := due.Sub(clk.Now()); d > 0 && !clk.Sleep(ctx, d) {
			p.ended = clk.Now()
			return p
		}
		if ctx.Err() != nil {
			p.ended = clk.Now()
			return p
		}
		p.lag = max(p.lag, clk.Now().Sub(due))
		if start(i) {
			p.started++
		} else {
			p.slipped++
		}
	}
	end := begin.Add(time.Duration(s.n) * s.interval)
	if d := end.Sub(clk.Now()); d > 0 {
		clk.Sleep(ctx, d)
	}
	p.ended = clk.Now()
	return p
}

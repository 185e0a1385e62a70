package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/orderq/orderq/loadtest/internal/crowd"
)

// progressEvery is how often the progress line is redrawn.
const progressEvery = 250 * time.Millisecond

// isTerminal reports whether w is a terminal, where a progress line that
// redraws itself is readable; in a file or a pipe it would be noise.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// startProgress draws a live line on w while the crowd runs, when tty: what
// it has sent, what was accepted and final, the errors, and the current rate
// of final orders. The returned stop clears the line, so the report that
// follows starts on a clean line.
func startProgress(w io.Writer, tty bool, label string, p *crowd.Progress, items int) (stop func()) {
	if !tty {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		var r rateWindow
		for {
			select {
			case <-quit:
				fmt.Fprint(w, "\r\033[K")
				return
			case now := <-t.C:
				fmt.Fprint(w, "\r\033[K"+progressLine(label, p, items, r.add(now, p.Final.Load())))
			}
		}
	}()
	return func() { close(quit); <-done }
}

// progressLine is one state of the line.
func progressLine(label string, p *crowd.Progress, items int, rate float64) string {
	sent := p.Sent.Load()
	if created := p.Items.Load(); sent == 0 && created < int64(items) {
		return fmt.Sprintf("%s  creating items %d/%d", label, created, items)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  sent %d  accepted %d  final %d  errors %d", label, sent, p.Accepted.Load(), p.Final.Load(), p.Errors.Load())
	if n := p.Slipped.Load(); n > 0 {
		fmt.Fprintf(&b, "  slipped %d", n)
	}
	fmt.Fprintf(&b, "  %.0f final/s", rate)
	return b.String()
}

// rateWindow turns a growing count into a rate over about the last second,
// steadier than the rate of one redraw.
type rateWindow struct {
	at    []time.Time
	count []int64
}

func (r *rateWindow) add(now time.Time, n int64) float64 {
	r.at, r.count = append(r.at, now), append(r.count, n)
	for len(r.at) > 2 && now.Sub(r.at[1]) >= time.Second {
		r.at, r.count = r.at[1:], r.count[1:]
	}
	d := now.Sub(r.at[0])
	if d <= 0 {
		return 0
	}
	return float64(n-r.count[0]) / d.Seconds()
}

package lifetime

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orderq/orderq/shared/testenv"
)

// trace records the order in which a group's stages stopped.
type trace struct {
	mu   sync.Mutex
	seen []string
}

func (tr *trace) add(s string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.seen = append(tr.seen, s)
}

func (tr *trace) get() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.seen)
}

// until returns a run that waits to be stopped, then records its name.
func until(tr *trace, name string) func(context.Context) error {
	return func(ctx context.Context) error {
		<-ctx.Done()
		// The next stage must wait for this one's work on the way out.
		time.Sleep(10 * time.Millisecond)
		tr.add(name)
		return nil
	}
}

func TestGroup(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		// build adds the stages; fail, when set, is closed to make one fail.
		build  func(g *Group, tr *trace, fail chan struct{})
		cancel bool // stop by canceling Wait's context, else by a failure
		want   []string
		err    string // empty: Wait returns nil
	}{
		{
			name: "signal stops the last started first",
			build: func(g *Group, tr *trace, _ chan struct{}) {
				g.Defer("database", func() error { tr.add("database"); return nil })
				g.Go("metrics", until(tr, "metrics"))
				g.Go("intake", until(tr, "intake"))
				g.Go("http", until(tr, "http"))
			},
			cancel: true,
			want:   []string{"http", "intake", "metrics", "database"},
		},
		{
			name: "a failure stops the others and is the error",
			build: func(g *Group, tr *trace, fail chan struct{}) {
				g.Defer("database", func() error { tr.add("database"); return nil })
				g.Go("metrics", func(ctx context.Context) error {
					select {
					case <-fail:
						tr.add("metrics failed")
						return boom
					case <-ctx.Done():
						return nil
					}
				})
				g.Go("consumer", until(tr, "consumer"))
			},
			want: []string{"metrics failed", "consumer", "database"},
			err:  "metrics: boom",
		},
		{
			name: "returning early without an error is a failure too",
			build: func(g *Group, tr *trace, fail chan struct{}) {
				g.Go("relay", until(tr, "relay"))
				g.Go("subscription", func(context.Context) error { <-fail; tr.add("subscription returned"); return nil })
			},
			want: []string{"subscription returned", "relay"},
			err:  "subscription: returned before it was stopped",
		},
		{
			name: "errors on the way out are returned",
			build: func(g *Group, tr *trace, _ chan struct{}) {
				g.Defer("database", func() error { tr.add("database"); return errors.New("close failed") })
				g.Go("http", func(ctx context.Context) error { <-ctx.Done(); tr.add("http"); return boom })
			},
			cancel: true,
			want:   []string{"http", "database"},
			err:    "stop http: boom\nclose database: close failed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := testenv.NewLog(t)
			g := New(log.Logger)
			tr := &trace{}
			fail := make(chan struct{})
			tt.build(g, tr, fail)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				cancel()
			} else {
				close(fail)
			}
			err := g.Wait(ctx)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("Wait: %v", err)
			case tt.err != "" && (err == nil || err.Error() != tt.err):
				t.Fatalf("Wait = %v, want %q", err, tt.err)
			}
			if got := tr.get(); !slices.Equal(got, tt.want) {
				t.Errorf("stopped %v, want %v", got, tt.want)
			}
			if again := g.Stop(); again != err {
				t.Errorf("Stop again = %v, want %v", again, err)
			}
			// One line per stage, in the order they stopped, then "stopped".
			var stages []string
			for _, m := range log.Messages(t) {
				if s, ok := strings.CutPrefix(m, "stopping "); ok {
					stages = append(stages, s)
				}
			}
			msgs := log.Messages(t)
			if msgs[len(msgs)-1] != "stopped" || slices.Index(msgs, "stopped") != len(msgs)-1 {
				t.Errorf("log %v: want one \"stopped\", last", msgs)
			}
			if len(stages) != len(g.stages) {
				t.Errorf("logged stopping %v for %d stages", stages, len(g.stages))
			}
		})
	}
}

func TestGoAfterStopPanics(t *testing.T) {
	g := New(testenv.NewLog(t).Logger)
	if err := g.Stop(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Error("Go after Stop did not panic")
		}
	}()
	g.Go("late", func(ctx context.Context) error { <-ctx.Done(); return nil })
}

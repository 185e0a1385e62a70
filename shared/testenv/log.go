package testenv

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// Log is the logger of a program run in-process by a test: it keeps every
// record, for the test to read (the address a server listens on, the order of
// the shutdown's stages), and shows them in the test's output when it fails.
type Log struct {
	*slog.Logger
	mu  sync.Mutex
	buf bytes.Buffer
}

// NewLog returns a Log logging at debug level as JSON, as the programs do.
func NewLog(t testing.TB) *Log {
	t.Helper()
	l := &Log{}
	l.Logger = slog.New(slog.NewJSONHandler(logWriter{l}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", l.String())
		}
	})
	return l
}

type logWriter struct{ l *Log }

func (w logWriter) Write(p []byte) (int, error) {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	return w.l.buf.Write(p)
}

// String returns everything logged so far.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Records returns the records logged so far, each decoded from its JSON.
func (l *Log) Records(t testing.TB) []map[string]any {
	t.Helper()
	var rs []map[string]any
	for line := range bytes.Lines([]byte(l.String())) {
		var r map[string]any
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		rs = append(rs, r)
	}
	return rs
}

// Messages returns the msg of every record logged so far, in order.
func (l *Log) Messages(t testing.TB) []string {
	t.Helper()
	var msgs []string
	for _, r := range l.Records(t) {
		m, _ := r["msg"].(string)
		msgs = append(msgs, m)
	}
	return msgs
}

// Await returns the first record with msg, waiting for it up to within, or
// fails the test.
func (l *Log) Await(t testing.TB, msg string, within time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		for _, r := range l.Records(t) {
			if r["msg"] == msg {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing logged %q within %s", msg, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

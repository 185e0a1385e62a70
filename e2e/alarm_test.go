package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// rabbitmqctl runs rabbitmqctl against the test broker; the test is skipped
// without it, except under CI.
func rabbitmqctl(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("rabbitmqctl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("rabbitmqctl is needed to raise a broker alarm")
		}
		t.Skip("rabbitmqctl is not installed")
	}
	out, err := exec.Command("rabbitmqctl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl %v: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestBrokerAlarmRefusesOrders raises the broker's memory alarm, which blocks
// every publishing connection on the broker: the gateway must answer 503 at
// once, and /readyz 503, instead of hanging or answering 202. Not parallel:
// the alarm is broker-wide, and Go runs the parallel tests only after it.
func TestBrokerAlarmRefusesOrders(t *testing.T) {
	s := newSystem(t)
	s.startWorker(nil)
	_, base := s.startGateway(nil)
	c := newClient(t, base, 4)
	item := c.createItem("alarm", 10, 0)

	watermark := rabbitmqctl(t, "eval", "vm_memory_monitor:get_vm_memory_high_watermark().")
	rabbitmqctl(t, "set_vm_memory_high_watermark", "0")
	t.Cleanup(func() { rabbitmqctl(t, "set_vm_memory_high_watermark", watermark) })

	for i := range 3 {
		start := time.Now()
		st, _ := c.order(item.ID, 1, "alarmed", 0)
		// The confirm timeout is 5 s: well below it means the block was noticed.
		if took := time.Since(start); st != http.StatusServiceUnavailable || took > 3*time.Second {
			t.Errorf("order %d during the alarm: %d after %s, want 503 at once", i, st, took.Round(time.Millisecond))
		}
	}
	if st := c.do("GET", "/readyz", nil, nil, nil); st != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the alarm: %d, want 503", st)
	}

	rabbitmqctl(t, "set_vm_memory_high_watermark", watermark)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, o := c.order(item.ID, 1, "after", 10)
		if st == http.StatusOK && o.Status == "confirmed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("orders still refused 30 s after the alarm cleared: %d", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// An order answered 503 may still reach the queue once the alarm clears
	// (the broker had its bytes, not its confirm): that is why 503 means
	// "retry with the same Idempotency-Key", never "not ordered". Whatever got
	// in must be accounted for.
	var confirmed int64
	if err := s.db().QueryRow(`SELECT COUNT(*) FROM order_lines WHERE item_id = ? AND status = 'reserved'`, item.ID).Scan(&confirmed); err != nil {
		t.Fatal(err)
	}
	if stock, balance := s.ledger(item.ID); confirmed < 1 || stock != 10-confirmed || balance != stock {
		t.Errorf("stock %d, ledger %d, %d orders confirmed: want stock = 10 - confirmed", stock, balance, confirmed)
	}
}

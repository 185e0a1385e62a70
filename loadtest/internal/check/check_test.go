package check

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// order is an accepted order.
func order(id, customer string, qty int, status, reason string) Order {
	return Order{ID: id, CustomerID: customer, Quantity: qty, Accepted: true, Status: status, Reason: reason}
}

// crowd returns n accepted single-unit orders from n distinct customers.
func crowd(prefix string, n int, status, reason string) []Order {
	os := make([]Order, n)
	for i := range os {
		id := fmt.Sprintf("%s-%d", prefix, i)
		os[i] = order(id, "c-"+id, 1, status, reason)
	}
	return os
}

func join(parts ...[]Order) []Order { return slices.Concat(parts...) }

// gone marks orders as not found when read back.
func gone(os []Order) []Order {
	for i := range os {
		os[i].Gone = true
	}
	return os
}

func TestVerifyPasses(t *testing.T) {
	tests := []struct {
		name string
		run  Run
	}{
		{
			name: "stock sold out, the rest refused",
			run: Run{InitialStock: 3, FinalStock: 0, Orders: join(
				crowd("ok", 3, StatusConfirmed, ""),
				crowd("no", 2, StatusRejected, ReasonOutOfStock))},
		},
		{
			name: "demand below stock",
			run:  Run{InitialStock: 10, FinalStock: 6, Orders: crowd("ok", 4, StatusConfirmed, "")},
		},
		{
			name: "zero stock",
			run:  Run{InitialStock: 0, FinalStock: 0, Orders: crowd("no", 4, StatusRejected, ReasonOutOfStock)},
		},
		{
			name: "no orders",
			run:  Run{InitialStock: 7, FinalStock: 7},
		},
		{
			name: "customer limit enforced",
			run: Run{InitialStock: 10, MaxPerCustomer: 2, FinalStock: 7, Orders: []Order{
				order("a1", "c-1", 1, StatusConfirmed, ""),
				order("a2", "c-1", 1, StatusConfirmed, ""),
				order("a3", "c-1", 1, StatusRejected, ReasonLimitExceeded),
				order("a4", "c-1", 1, StatusRejected, ReasonLimitExceeded),
				order("b1", "c-2", 1, StatusConfirmed, ""),
			}},
		},
		{
			name: "multi-unit orders stop short of the last units",
			run: Run{InitialStock: 10, FinalStock: 1, Orders: []Order{
				order("a", "c-1", 3, StatusConfirmed, ""),
				order("b", "c-2", 3, StatusConfirmed, ""),
				order("c", "c-3", 3, StatusConfirmed, ""),
				order("d", "c-4", 3, StatusRejected, ReasonOutOfStock),
			}},
		},
		{
			name: "an order of unknown fate may have taken a unit",
			run: Run{InitialStock: 5, FinalStock: 1, Orders: join(
				crowd("ok", 3, StatusConfirmed, ""),
				[]Order{{CustomerID: "c-x", Quantity: 1, Uncertain: true}})},
		},
		{
			name: "refused orders do not count",
			run: Run{InitialStock: 5, FinalStock: 3, Orders: join(
				crowd("ok", 2, StatusConfirmed, ""),
				[]Order{{CustomerID: "c-x", Quantity: 1000}})},
		},
		{
			name: "a rejected order gone when read back is no loss",
			run: Run{InitialStock: 1, FinalStock: 0, Orders: join(
				crowd("ok", 1, StatusConfirmed, ""),
				gone(crowd("no", 2, StatusRejected, ReasonOutOfStock)))},
		},
		{
			name: "balanced ledger",
			run: Run{InitialStock: 5, FinalStock: 2, Orders: crowd("ok", 3, StatusConfirmed, ""),
				Ledger: &Ledger{InitialStock: 5, Movements: -3, Stock: 2}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if vs := Verify(tt.run); len(vs) != 0 {
				t.Errorf("Verify found violations in a good run:\n%s", lines(vs))
			}
		})
	}
}

func TestVerifyCatches(t *testing.T) {
	tests := []struct {
		name string
		run  Run
		want []Rule
		// say is a fragment the first violation's message must contain.
		say string
	}{
		{
			name: "stock below zero",
			run:  Run{InitialStock: 2, FinalStock: -1, Orders: crowd("ok", 3, StatusConfirmed, "")},
			want: []Rule{RuleStockNegative, RuleOversold},
			say:  "stock -1",
		},
		{
			name: "stock below zero in the database",
			run: Run{InitialStock: 2, FinalStock: -1, Orders: crowd("ok", 3, StatusConfirmed, ""),
				Ledger: &Ledger{InitialStock: 2, Movements: -3, Stock: -1}},
			want: []Rule{RuleStockNegative, RuleStockNegative, RuleOversold},
			say:  "gateway reports stock -1",
		},
		{
			name: "oversold while the stock looks fine",
			run:  Run{InitialStock: 2, FinalStock: 0, Orders: crowd("ok", 3, StatusConfirmed, "")},
			want: []Rule{RuleOversold, RuleStockMismatch},
			say:  "3 units were confirmed, but the item had only 2",
		},
		{
			name: "final stock does not match confirmations",
			run:  Run{InitialStock: 5, FinalStock: 4, Orders: crowd("ok", 2, StatusConfirmed, "")},
			want: []Rule{RuleStockMismatch},
			say:  "stock 4, but initial stock 5 - confirmed 2 = 3",
		},
		{
			name: "database stock does not match confirmations",
			run: Run{InitialStock: 5, FinalStock: 3, Orders: crowd("ok", 2, StatusConfirmed, ""),
				Ledger: &Ledger{InitialStock: 5, Movements: -1, Stock: 4}},
			want: []Rule{RuleStockMismatch},
			say:  "database holds stock 4",
		},
		{
			name: "stock outside what orders of unknown fate explain",
			run: Run{InitialStock: 5, FinalStock: 1, Orders: join(
				crowd("ok", 2, StatusConfirmed, ""),
				[]Order{{CustomerID: "c-x", Quantity: 1, Uncertain: true}})},
			want: []Rule{RuleStockMismatch},
			say:  "between 2 and 3",
		},
		{
			name: "fewer confirmed than stock and demand allow",
			run: Run{InitialStock: 5, FinalStock: 2, Orders: join(
				crowd("ok", 3, StatusConfirmed, ""),
				crowd("no", 2, StatusRejected, "payment_declined"))},
			want: []Rule{RuleUndersold},
			say:  "3 units were confirmed, but min(stock 5, demand 5) = 5",
		},
		{
			name: "undersold by the customer limit",
			run: Run{InitialStock: 10, MaxPerCustomer: 2, FinalStock: 9, Orders: []Order{
				order("a1", "c-1", 1, StatusConfirmed, ""),
				order("a2", "c-1", 1, StatusRejected, ReasonLimitExceeded),
			}},
			want: []Rule{RuleUndersold, RuleUnjustifiedRejection},
			say:  "demand 2",
		},
		{
			name: "out of stock while stock remained",
			run: Run{InitialStock: 10, FinalStock: 6, Orders: []Order{
				order("a", "c-1", 2, StatusConfirmed, ""),
				order("b", "c-2", 2, StatusConfirmed, ""),
				order("c", "c-3", 2, StatusRejected, ReasonOutOfStock),
			}},
			want: []Rule{RuleUnjustifiedRejection},
			say:  "1 orders were rejected out_of_stock although at least 6 units remained: c (quantity 2)",
		},
		{
			name: "limit exceeded without a limit",
			run: Run{InitialStock: 10, FinalStock: 8, Orders: []Order{
				order("a", "c-1", 2, StatusConfirmed, ""),
				order("b", "c-1", 2, StatusRejected, ReasonLimitExceeded),
			}},
			want: []Rule{RuleUnjustifiedRejection},
			say:  "max_per_customer 0 allowed them",
		},
		{
			name: "limit exceeded below the limit",
			run: Run{InitialStock: 10, MaxPerCustomer: 5, FinalStock: 8, Orders: []Order{
				order("a", "c-1", 2, StatusConfirmed, ""),
				order("b", "c-1", 3, StatusRejected, ReasonLimitExceeded),
			}},
			want: []Rule{RuleUnjustifiedRejection},
			say:  "b (customer c-1, quantity 3, holds 2)",
		},
		{
			name: "item not found although it exists",
			run: Run{InitialStock: 10, FinalStock: 10, Orders: []Order{
				order("a", "c-1", 2, StatusRejected, ReasonItemNotFound),
			}},
			want: []Rule{RuleUnjustifiedRejection},
			say:  "rejected item_not_found",
		},
		{
			name: "customer over the limit",
			run: Run{InitialStock: 10, MaxPerCustomer: 1, FinalStock: 8, Orders: []Order{
				order("a", "c-1", 1, StatusConfirmed, ""),
				order("b", "c-1", 1, StatusConfirmed, ""),
			}},
			want: []Rule{RuleCustomerLimit},
			say:  "c-1 holds 2",
		},
		{
			name: "accepted orders left pending",
			run: Run{InitialStock: 10, FinalStock: 9, Orders: join(
				crowd("ok", 1, StatusConfirmed, ""),
				crowd("wait", 2, StatusPending, ""),
				[]Order{order("odd", "c-odd", 1, "", "")})},
			want: []Rule{RuleNotFinal},
			say:  "3 of 4 accepted orders are not final: odd (no status), wait-0 (pending), wait-1 (pending)",
		},
		{
			name: "confirmed orders gone when read back",
			run: Run{InitialStock: 10, FinalStock: 7, Orders: join(
				crowd("ok", 1, StatusConfirmed, ""),
				gone(crowd("lost", 2, StatusConfirmed, "")))},
			want: []Rule{RuleLost},
			say:  "2 of 3 orders confirmed to their buyers were not found when read back: lost-0, lost-1",
		},
		{
			// The store lost the order and sold its unit again: each rule
			// tells its part.
			name: "lost and sold again",
			run: Run{InitialStock: 2, FinalStock: 0, Orders: join(
				crowd("ok", 2, StatusConfirmed, ""),
				gone(crowd("lost", 1, StatusConfirmed, "")))},
			want: []Rule{RuleOversold, RuleStockMismatch, RuleLost},
			say:  "3 units were confirmed, but the item had only 2",
		},
		{
			name: "valid orders refused",
			run: Run{InitialStock: 5, FinalStock: 4, Orders: join(
				crowd("ok", 1, StatusConfirmed, ""),
				[]Order{
					{CustomerID: "c-x", Quantity: 1, Refusal: "404 item_not_found"},
					{CustomerID: "c-y", Quantity: 1, Refusal: "404 item_not_found"},
					{CustomerID: "c-z", Quantity: 1, Refusal: "422 validation_failed"},
				})},
			want: []Rule{RuleRefused},
			say:  "3 valid orders were refused: 404 item_not_found (2), 422 validation_failed (1)",
		},
		{
			name: "one id for two orders",
			run: Run{InitialStock: 5, FinalStock: 4, Orders: []Order{
				order("same", "c-1", 1, StatusConfirmed, ""),
				order("same", "c-2", 1, StatusConfirmed, ""),
			}},
			want: []Rule{RuleDuplicateOrder},
			say:  "1 order ids were returned for more than one order: same",
		},
		{
			name: "ledger does not add up",
			run: Run{InitialStock: 5, FinalStock: 2, Orders: crowd("ok", 3, StatusConfirmed, ""),
				Ledger: &Ledger{InitialStock: 5, Movements: -2, Stock: 2}},
			want: []Rule{RuleLedger},
			say:  "initial stock 5 + movements -2 = 3, but the database holds stock 2",
		},
		{
			name: "ledger starts from another stock",
			run: Run{InitialStock: 5, FinalStock: 2, Orders: crowd("ok", 3, StatusConfirmed, ""),
				Ledger: &Ledger{InitialStock: 6, Movements: -4, Stock: 2}},
			want: []Rule{RuleLedger},
			say:  "initial stock 6, but the item was created with 5",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs := Verify(tt.run)
			var got []Rule
			for _, v := range vs {
				got = append(got, v.Rule)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("rules = %v, want %v; violations:\n%s", got, tt.want, lines(vs))
			}
			if !strings.Contains(vs[0].Message, tt.say) {
				t.Errorf("message %q does not say %q", vs[0].Message, tt.say)
			}
		})
	}
}

func TestVerifyEveryRuleCanFail(t *testing.T) {
	// Each rule must be caught by at least one case above; a rule added without a
	// failing case would be a checker that cannot fail.
	caught := map[Rule]bool{}
	runs := []Run{
		{InitialStock: 2, FinalStock: -1, Orders: crowd("a", 3, StatusConfirmed, ""),
			Ledger: &Ledger{InitialStock: 3, Movements: 0, Stock: 1}},
		{InitialStock: 5, FinalStock: 2, Orders: crowd("b", 2, StatusRejected, ReasonOutOfStock)},
		{InitialStock: 5, MaxPerCustomer: 1, FinalStock: 3, Orders: []Order{
			order("c", "c-1", 1, StatusConfirmed, ""), order("c", "c-2", 1, StatusConfirmed, ""),
			order("d", "c-1", 1, StatusConfirmed, ""), order("e", "c-1", 1, StatusPending, ""),
			{CustomerID: "c-3", Quantity: 1, Refusal: "400 invalid_json"}}},
		{InitialStock: 5, FinalStock: 4, Orders: gone(crowd("f", 1, StatusConfirmed, ""))},
	}
	for _, r := range runs {
		for _, v := range Verify(r) {
			caught[v.Rule] = true
		}
	}
	// The rules of carts only.
	bad := cartRun(
		[]Cart{
			cart("a", StatusConfirmed, "", line(1, 2, "released", "")),
			cart("b", StatusRejected, "", line(1, 1, LineReserved, "")),
		},
		stocked{id: 1, initial: 5, final: 3, ledger: &Ledger{InitialStock: 5, Movements: -3, Stock: 2}, held: ptr(int64(2))},
	)
	bad.Audit = &Audit{Waited: time.Second, Holding: 1, Unreserved: []string{"a (item 1: released)"}}
	for _, v := range VerifyCarts(bad) {
		caught[v.Rule] = true
	}
	for _, r := range Rules() {
		if !caught[r] {
			t.Errorf("rule %s was never reported", r)
		}
	}
}

func TestVerifyMessagesAreBounded(t *testing.T) {
	run := Run{InitialStock: 100, FinalStock: 100, Orders: crowd("p", 40, StatusPending, "")}
	vs := Verify(run)
	if len(vs) != 1 || vs[0].Rule != RuleNotFinal {
		t.Fatalf("violations = %v, want one %s", vs, RuleNotFinal)
	}
	if want := "and 35 more"; !strings.HasSuffix(vs[0].Message, want) {
		t.Errorf("message %q does not end with %q", vs[0].Message, want)
	}
}

func lines(vs []Violation) string {
	var b strings.Builder
	for _, v := range vs {
		b.WriteString("  " + v.String() + "\n")
	}
	return b.String()
}

// item is a catalogue item's run: stock, final stock and its orders.
func item(id, stock, final int64, orders ...[]Order) Run {
	return Run{Item: id, InitialStock: stock, FinalStock: final, Orders: join(orders...)}
}

func TestVerifyItemsPasses(t *testing.T) {
	tests := []struct {
		name string
		runs []Run
	}{
		{
			name: "sold out, partly sold and untouched items",
			runs: []Run{
				item(1, 3, 0, crowd("a-ok", 3, StatusConfirmed, ""), crowd("a-no", 5, StatusRejected, ReasonOutOfStock)),
				item(2, 3, 1, crowd("b-ok", 2, StatusConfirmed, "")),
				item(3, 3, 3),
			},
		},
		{
			name: "balanced ledgers",
			runs: []Run{
				{Item: 1, InitialStock: 2, FinalStock: 1, Orders: crowd("a", 1, StatusConfirmed, ""),
					Ledger: &Ledger{InitialStock: 2, Movements: -1, Stock: 1}},
				{Item: 2, InitialStock: 2, FinalStock: 2, Ledger: &Ledger{InitialStock: 2, Stock: 2}},
			},
		},
		{
			name: "the same customer buys several items",
			runs: []Run{
				{Item: 1, InitialStock: 5, MaxPerCustomer: 1, FinalStock: 4, Orders: []Order{order("a", "c-1", 1, StatusConfirmed, "")}},
				{Item: 2, InitialStock: 5, MaxPerCustomer: 1, FinalStock: 4, Orders: []Order{order("b", "c-1", 1, StatusConfirmed, "")}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if vs := VerifyItems(tt.runs); len(vs) != 0 {
				t.Errorf("VerifyItems found violations in a good catalogue:\n%s", lines(vs))
			}
		})
	}
}

func TestVerifyItemsCatches(t *testing.T) {
	good := func(id int64) Run { return item(id, 2, 0, crowd(fmt.Sprint("ok", id), 2, StatusConfirmed, "")) }
	oversold := func(id int64) Run { return item(id, 2, 0, crowd(fmt.Sprint("over", id), 3, StatusConfirmed, "")) }
	tests := []struct {
		name string
		runs []Run
		want []Rule
		say  []string // fragments of the messages, in order
	}{
		{
			name: "one item of one is reported as Verify words it",
			runs: []Run{oversold(7)},
			want: []Rule{RuleOversold, RuleStockMismatch},
			say:  []string{"3 units were confirmed, but the item had only 2"},
		},
		{
			name: "one bad item among good ones",
			runs: []Run{good(1), oversold(2), good(3)},
			want: []Rule{RuleOversold, RuleStockMismatch},
			say:  []string{"1 of 3 items: item 2: 3 units were confirmed, but the item had only 2", "1 of 3 items: item 2: the gateway reports stock 0"},
		},
		{
			name: "many bad items are merged per rule",
			runs: []Run{oversold(1), oversold(2), oversold(3), oversold(4), oversold(5), good(6)},
			want: []Rule{RuleOversold, RuleStockMismatch},
			say:  []string{"5 of 6 items: item 1: ", "; and 2 more items"},
		},
		{
			name: "rules keep their order across items",
			runs: []Run{
				item(1, 5, 5, crowd("p", 1, StatusPending, "")),
				item(2, 1, -1, crowd("n", 2, StatusConfirmed, "")),
			},
			want: []Rule{RuleStockNegative, RuleOversold, RuleNotFinal},
			say:  []string{"1 of 2 items: item 2: the gateway reports stock -1"},
		},
		{
			name: "undersold item",
			runs: []Run{good(1), item(2, 3, 2, crowd("u", 1, StatusConfirmed, ""), crowd("v", 2, StatusRejected, ReasonOutOfStock))},
			want: []Rule{RuleUndersold, RuleUnjustifiedRejection},
			say:  []string{"1 of 2 items: item 2: 1 units were confirmed, but min(stock 3, demand 3) = 3"},
		},
		{
			name: "unbalanced ledger of one item",
			runs: []Run{
				{Item: 1, InitialStock: 2, FinalStock: 1, Orders: crowd("a", 1, StatusConfirmed, ""),
					Ledger: &Ledger{InitialStock: 2, Movements: -1, Stock: 1}},
				{Item: 2, InitialStock: 2, FinalStock: 1, Orders: crowd("b", 1, StatusConfirmed, ""),
					Ledger: &Ledger{InitialStock: 2, Movements: 0, Stock: 1}},
			},
			want: []Rule{RuleLedger},
			say:  []string{"1 of 2 items: item 2: initial stock 2 + movements 0 = 2"},
		},
		{
			name: "one order id for orders of two items",
			runs: []Run{
				item(1, 2, 1, []Order{order("same", "c-1", 1, StatusConfirmed, "")}),
				item(2, 2, 1, []Order{order("same", "c-2", 1, StatusConfirmed, "")}),
			},
			want: []Rule{RuleDuplicateOrder},
			say:  []string{"1 order ids were returned for orders of different items: same (items 1 and 2)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs := VerifyItems(tt.runs)
			var got []Rule
			for _, v := range vs {
				got = append(got, v.Rule)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("rules = %v, want %v; violations:\n%s", got, tt.want, lines(vs))
			}
			for i, say := range tt.say {
				if !strings.Contains(vs[min(i, len(vs)-1)].Message, say) {
					t.Errorf("message %q does not say %q", vs[min(i, len(vs)-1)].Message, say)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// line is a cart's line as answered.
func line(item int64, qty int, status, reason string) Line {
	return Line{Item: item, Quantity: qty, Status: status, Reason: reason}
}

// cart is an accepted cart of lines.
func cart(id, status, reason string, lines ...Line) Cart {
	c := Cart{Order: order(id, "c-"+id, 0, status, reason), Lines: lines}
	for _, l := range lines {
		c.Quantity += l.Quantity
	}
	return c
}

// stocked is an item of a cart run.
type stocked struct {
	id, initial, final int64
	ledger             *Ledger
	held               *int64
}

func cartRun(carts []Cart, items ...stocked) CartRun {
	run := CartRun{Carts: carts}
	for _, it := range items {
		run.Items = append(run.Items, Run{Item: it.id, InitialStock: it.initial, FinalStock: it.final, Ledger: it.ledger, Held: it.held})
	}
	return run
}

// settled is the audit of a run that settled.
var settled = &Audit{Waited: 120 * time.Millisecond}

// goodCarts is a settled run over items 1, 2 and 3 of stock 5, 5 and 2: a
// confirmed, b rejected on item 1 after item 2 reserved 3 units (answered
// reserved, released since), c confirmed; x held item 3's two units while it
// failed on item 1, so y was refused item 3 although both came back.
func goodCarts() CartRun {
	run := cartRun(
		[]Cart{
			cart("a", StatusConfirmed, "", line(1, 2, LineReserved, ""), line(2, 1, LineReserved, "")),
			cart("b", StatusRejected, ReasonOutOfStock, line(1, 4, "rejected", ReasonOutOfStock), line(2, 3, LineReserved, "")),
			cart("c", StatusConfirmed, "", line(2, 3, LineReserved, "")),
			cart("x", StatusRejected, ReasonOutOfStock, line(3, 2, LineReserved, ""), line(1, 9, "rejected", ReasonOutOfStock)),
			cart("y", StatusRejected, ReasonOutOfStock, line(3, 1, "rejected", ReasonOutOfStock)),
		},
		stocked{id: 1, initial: 5, final: 3, ledger: &Ledger{InitialStock: 5, Movements: -2, Stock: 3}, held: ptr(int64(2))},
		stocked{id: 2, initial: 5, final: 1, ledger: &Ledger{InitialStock: 5, Movements: -4, Stock: 1}, held: ptr(int64(4))},
		stocked{id: 3, initial: 2, final: 2, ledger: &Ledger{InitialStock: 2, Movements: 0, Stock: 2}, held: ptr(int64(0))},
	)
	run.Audit = settled
	return run
}

func TestVerifyCartsPasses(t *testing.T) {
	tests := []struct {
		name string
		run  CartRun
	}{
		{name: "settled, with releases", run: goodCarts()},
		{
			name: "without the database",
			run: func() CartRun {
				r := goodCarts()
				r.Audit = nil
				for i := range r.Items {
					r.Items[i].Ledger, r.Items[i].Held = nil, nil
				}
				return r
			}(),
		},
		{
			name: "a cart of unknown fate may have taken its units",
			run: cartRun([]Cart{
				cart("a", StatusConfirmed, "", line(1, 1, LineReserved, "")),
				{Order: Order{CustomerID: "c-u", Quantity: 2, Uncertain: true}, Lines: []Line{line(1, 2, "", "")}},
			}, stocked{id: 1, initial: 5, final: 2}),
		},
		{name: "no carts", run: cartRun(nil, stocked{id: 1, initial: 5, final: 5})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if vs := VerifyCarts(tt.run); len(vs) != 0 {
				t.Errorf("VerifyCarts found violations in a good run:\n%s", lines(vs))
			}
		})
	}
	// The same lines as orders of one item each would not pass: stock came
	// back after y was refused, which only carts explain.
	run := goodCarts().Items[2]
	run.Orders = []Order{order("x", "c-x", 2, StatusRejected, ""), order("y", "c-y", 1, StatusRejected, ReasonOutOfStock)}
	if vs := Verify(run); len(vs) == 0 {
		t.Error("Verify passed a refusal for stock that remained")
	}
}

func TestVerifyCartsCatches(t *testing.T) {
	tests := []struct {
		name   string
		run    func(r *CartRun)
		want   []Rule
		say    string   // a fragment of the first violation
		sayAll []string // fragments of any violation
	}{
		{
			name: "a leaked unit",
			// b's line on item 3 was marked released, but its unit never came back.
			run: func(r *CartRun) {
				r.Items[2].FinalStock = 1
				r.Items[2].Ledger = &Ledger{InitialStock: 2, Movements: -1, Stock: 1}
			},
			want: []Rule{RuleStockMismatch, RuleLeaked},
			say:  "1 of 3 items: item 3: the gateway reports stock 1, but initial stock 2 - confirmed 0 = 2",
			sayAll: []string{"item 3: the database holds 0 units reserved by confirmed orders + stock 1 = 1, but the item was created with 2: " +
				"1 units are held by no confirmed order"},
		},
		{
			name: "an oversold item",
			// a third confirmed cart took 2 units of item 3, which had 2 and
			// lent them to x: the worker confirmed them twice.
			run: func(r *CartRun) {
				r.Carts = append(r.Carts, cart("z", StatusConfirmed, "", line(3, 2, LineReserved, "")),
					cart("w", StatusConfirmed, "", line(3, 1, LineReserved, "")))
				r.Items[2].FinalStock = 0
				r.Items[2].Ledger = &Ledger{InitialStock: 2, Movements: -2, Stock: 0}
				r.Items[2].Held = ptr(int64(3))
			},
			want: []Rule{RuleOversold, RuleStockMismatch},
			say:  "1 of 3 items: item 3: 3 units were confirmed, but the item had only 2; item 3: the database holds 3 units reserved by confirmed orders + stock 0 = 3, but the item had only 2",
		},
		{
			name: "a confirmed cart answered with a released line",
			run: func(r *CartRun) {
				r.Carts[0].Lines[1].Status = "released"
			},
			want: []Rule{RulePartialCart},
			say:  "1 confirmed carts were answered with a line that is not reserved: a (item 2: released)",
		},
		{
			name: "a confirmed order with a released line in the database",
			// c's line was released, and its units went back to stock.
			run: func(r *CartRun) {
				r.Items[1].FinalStock, r.Items[1].Held = 4, ptr(int64(1))
				r.Items[1].Ledger = &Ledger{InitialStock: 5, Movements: -1, Stock: 4}
				r.Audit = &Audit{Waited: time.Millisecond, Unreserved: []string{"c (item 2: released)"}}
			},
			want:   []Rule{RuleStockMismatch, RulePartialCart},
			say:    "item 2: the gateway reports stock 4, but initial stock 5 - confirmed 4 = 1",
			sayAll: []string{"the database holds 1 confirmed orders with a line that is not reserved: c (item 2: released)"},
		},
		{
			name: "a release still owed",
			run: func(r *CartRun) {
				r.Items[1].FinalStock = 0
				r.Items[1].Ledger = &Ledger{InitialStock: 5, Movements: -5, Stock: 0}
				r.Audit = &Audit{Waited: 30 * time.Second, Holding: 1, Outbox: 2}
			},
			want: []Rule{RuleStockMismatch, RuleNotSettled, RuleLeaked},
			sayAll: []string{"after 30s, 0 orders were pending, 2 outbox rows unpublished and 1 lines of rejected or canceled orders still held stock",
				"1 units are held by no confirmed order"},
		},
		{
			name: "a rejected cart without a reason",
			run: func(r *CartRun) {
				r.Carts[1].Reason = ""
				r.Carts[4].Reason = ReasonLimitExceeded
			},
			want: []Rule{RuleReasonMissing},
			say:  "2 rejected carts carry no reason, or one none of their lines failed with: b (no reason), y (reason limit_exceeded)",
		},
		{
			name: "a cart left pending",
			run: func(r *CartRun) {
				r.Carts = append(r.Carts, cart("p", StatusPending, "", line(1, 1, "pending", "")))
			},
			want: []Rule{RuleNotFinal},
			say:  "1 of 6 accepted orders are not final: p (pending)",
		},
		{
			name: "stock below zero and an unbalanced ledger",
			run: func(r *CartRun) {
				r.Items[0].Ledger = &Ledger{InitialStock: 5, Movements: -2, Stock: -1}
			},
			want: []Rule{RuleStockNegative, RuleStockMismatch, RuleLedger, RuleLeaked},
			say:  "1 of 3 items: item 1: the database holds stock -1",
		},
		{
			name: "an item_not_found line of an item that exists",
			run: func(r *CartRun) {
				r.Carts[4].Reason, r.Carts[4].Lines[0].Reason = ReasonItemNotFound, ReasonItemNotFound
			},
			want: []Rule{RuleUnjustifiedRejection},
			say:  "item 3: 1 orders were rejected item_not_found although the item exists: y",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := goodCarts()
			tt.run(&run)
			vs := VerifyCarts(run)
			var got []Rule
			for _, v := range vs {
				got = append(got, v.Rule)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("rules = %v, want %v; violations:\n%s", got, tt.want, lines(vs))
			}
			if !strings.Contains(vs[0].Message, tt.say) {
				t.Errorf("message %q does not say %q", vs[0].Message, tt.say)
			}
			for _, say := range tt.sayAll {
				if !strings.Contains(lines(vs), say) {
					t.Errorf("violations do not say %q:\n%s", say, lines(vs))
				}
			}
		})
	}
}

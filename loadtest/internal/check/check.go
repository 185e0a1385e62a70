// Package check verifies a finished flash-sale run against the promises orderq
// makes about stock. It is pure: it sees only what the crowd observed and, when
// available, the item's stock ledger, and it reports only what it can prove.
//
// Every rule assumes what a flash-sale run guarantees: the item was created for
// the run, nothing but the run's orders touched its stock, and it was not
// deleted. Under those assumptions stock only goes down, one order at a time, in
// the order the worker decides them, which is what makes the rules provable.
//
// A run of carts (VerifyCarts) breaks the last assumption: a cart that fails on
// one item gives back what its other lines reserved, so stock also comes back.
// Its rules are the ones that still hold once the system has settled, and what
// the database holds about the carts' lines.
package check

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Order statuses and rejection reasons from the HTTP contract.
const (
	StatusPending   = "pending"
	StatusConfirmed = "confirmed"
	StatusRejected  = "rejected"

	ReasonOutOfStock    = "out_of_stock"
	ReasonItemNotFound  = "item_not_found"
	ReasonLimitExceeded = "limit_exceeded"

	// LineReserved is the status of a cart's line that holds its stock.
	LineReserved = "reserved"
)

// Order is what the crowd knows about one order it sent.
type Order struct {
	ID         string // the gateway's order id; empty when it was never accepted
	CustomerID string
	Quantity   int
	// Accepted is true once the gateway answered 2xx with an order.
	Accepted bool
	// Uncertain marks an order that was never accepted although the gateway may
	// have taken it: a request of it died on the network or with a 5xx after the
	// gateway could have published it. Such an order may still consume stock.
	Uncertain bool
	// Refusal is the answer to an order the gateway refused outright with a 4xx
	// other than 429, e.g. "404 item_not_found". The crowd sends only orders the
	// contract accepts, so any refusal is a gateway bug.
	Refusal string
	Status  string // last status seen; empty when not accepted
	Reason  string // rejection reason; empty when none
	// Gone marks an order that was read back from the system once the crowd
	// was done, and was not found (404): an order its buyer was told was
	// confirmed that the system no longer holds is lost.
	Gone bool
}

// Final reports whether the order reached a final status.
func (o Order) Final() bool {
	return o.Status == StatusConfirmed || o.Status == StatusRejected
}

// Ledger is the item's stock ledger as the database holds it.
type Ledger struct {
	InitialStock int64 // items.initial_stock
	Movements    int64 // SUM(stock_movements.delta) for the item
	Stock        int64 // items.stock
}

// Run is everything the checker needs about one item of a run: a flash sale
// has one, a catalogue many.
type Run struct {
	Item           int64 // the item's id, named in VerifyItems' messages
	InitialStock   int64
	MaxPerCustomer int // 0 means no limit
	FinalStock     int64
	Orders         []Order
	Ledger         *Ledger // nil when the ledger was not read
	// Carts marks the orders as lines of carts: a line can be rejected for
	// another line's sake, and a line reserved by a cart that failed elsewhere
	// is released again, so stock does not only fall. Neither demand nor the
	// final stock then bounds what a decision saw, and Verify leaves out the
	// rules that rely on it: undersold, and rejections for stock or the
	// customer limit. FinalStock must be read once the system settled.
	Carts bool
	// Held is the quantity the database holds reserved for the item by
	// confirmed orders, read with Ledger once the system settled; nil when not
	// read. With Ledger.Stock it must add up to the initial stock.
	Held *int64
}

// Rule names an invariant; it is stable, for machines and tests.
type Rule string

// The invariants, in the order Verify reports them.
const (
	RuleStockNegative        Rule = "stock_negative"
	RuleOversold             Rule = "oversold"
	RuleStockMismatch        Rule = "stock_mismatch"
	RuleUndersold            Rule = "undersold"
	RuleUnjustifiedRejection Rule = "unjustified_rejection"
	RuleCustomerLimit        Rule = "customer_limit"
	RuleNotFinal             Rule = "not_final"
	RuleLost                 Rule = "order_lost"
	RuleRefused              Rule = "order_refused"
	RuleDuplicateOrder       Rule = "duplicate_order"
	RuleLedger               Rule = "ledger_unbalanced"
	// Carts only.
	RuleNotSettled    Rule = "not_settled"
	RuleLeaked        Rule = "units_leaked"
	RulePartialCart   Rule = "partial_cart"
	RuleReasonMissing Rule = "reason_missing"
)

// Violation is one broken invariant, described in a sentence.
type Violation struct {
	Rule    Rule   `json:"rule"`
	Message string `json:"message"`
}

func (v Violation) String() string { return string(v.Rule) + ": " + v.Message }

// examples bounds how many order ids or customers a message lists.
const examples = 5

// Verify returns the invariants run breaks, or nil when it passes.
func Verify(run Run) []Violation {
	t := tally(run)
	return byRank(append(stockRules(run, t), orderRules(t)...))
}

// adder returns a function that adds a violation to vs.
func adder(vs *[]Violation) func(r Rule, format string, args ...any) {
	return func(r Rule, format string, args ...any) {
		*vs = append(*vs, Violation{Rule: r, Message: fmt.Sprintf(format, args...)})
	}
}

// byRank orders vs by rule, keeping the order of one rule's violations.
func byRank(vs []Violation) []Violation {
	slices.SortStableFunc(vs, func(a, b Violation) int { return rank(a.Rule) - rank(b.Rule) })
	return vs
}

// stockRules are the rules about the item's stock: what the orders took of it,
// what remained, and what the database holds.
func stockRules(run Run, t totals) []Violation {
	var vs []Violation
	add := adder(&vs)

	if run.FinalStock < 0 {
		add(RuleStockNegative, "the gateway reports stock %d for the item: it went below zero", run.FinalStock)
	}
	if run.Ledger != nil && run.Ledger.Stock < 0 {
		add(RuleStockNegative, "the database holds stock %d for the item: it went below zero", run.Ledger.Stock)
	}

	if t.confirmed > run.InitialStock {
		add(RuleOversold, "%d units were confirmed, but the item had only %d", t.confirmed, run.InitialStock)
	}

	// Orders whose fate is unknown may have taken stock that no answer told us about,
	// so with them the final stock is a range instead of a number.
	hi := run.InitialStock - t.confirmed
	lo := hi - t.uncertain
	if msg, ok := stockOutside("the gateway reports", run.FinalStock, lo, hi, run.InitialStock, t); !ok {
		add(RuleStockMismatch, "%s", msg)
	}
	if run.Ledger != nil {
		if msg, ok := stockOutside("the database holds", run.Ledger.Stock, lo, hi, run.InitialStock, t); !ok {
			add(RuleStockMismatch, "%s", msg)
		}
	}

	// With single-unit orders and every outcome known, first come first served
	// pins the result down: stock runs out only when all of it is sold, and a
	// customer is refused only at the limit. So confirmed = min(stock, demand),
	// where demand counts each customer up to the limit.
	if !run.Carts && t.singleUnits && len(t.notFinal) == 0 && t.uncertain == 0 {
		demand := int64(0)
		for _, n := range t.ordersByCustomer {
			if run.MaxPerCustomer > 0 && n > int64(run.MaxPerCustomer) {
				n = int64(run.MaxPerCustomer)
			}
			demand += n
		}
		if want := min(run.InitialStock, demand); t.confirmed < want {
			add(RuleUndersold, "%d units were confirmed, but min(stock %d, demand %d) = %d should have been",
				t.confirmed, run.InitialStock, demand, want)
		}
	}

	// A rejection is unjustified when it is refuted by what remained afterwards:
	// stock only falls and a customer's confirmed total only grows, so the end
	// state bounds the state at the moment of the decision.
	var noStock, noLimit, noItem []string
	for _, o := range t.orders {
		if o.Status != StatusRejected {
			continue
		}
		switch o.Reason {
		case ReasonOutOfStock:
			if !run.Carts && int64(o.Quantity) <= lo {
				noStock = append(noStock, fmt.Sprintf("%s (quantity %d)", o.ID, o.Quantity))
			}
		case ReasonLimitExceeded:
			if run.Carts && run.MaxPerCustomer > 0 {
				break // a cart that failed elsewhere held units of the limit for a while
			}
			held := t.confirmedByCustomer[o.CustomerID] + t.uncertainByCustomer[o.CustomerID]
			if run.MaxPerCustomer == 0 || held+int64(o.Quantity) <= int64(run.MaxPerCustomer) {
				noLimit = append(noLimit, fmt.Sprintf("%s (customer %s, quantity %d, holds %d)",
					o.ID, o.CustomerID, o.Quantity, held))
			}
		case ReasonItemNotFound:
			noItem = append(noItem, o.ID)
		}
	}
	if len(noStock) > 0 {
		add(RuleUnjustifiedRejection, "%d orders were rejected out_of_stock although at least %d units remained: %s",
			len(noStock), lo, sample(noStock))
	}
	if len(noLimit) > 0 {
		add(RuleUnjustifiedRejection, "%d orders were rejected limit_exceeded although max_per_customer %d allowed them: %s",
			len(noLimit), run.MaxPerCustomer, sample(noLimit))
	}
	if len(noItem) > 0 {
		add(RuleUnjustifiedRejection, "%d orders were rejected item_not_found although the item exists: %s",
			len(noItem), sample(noItem))
	}

	if run.MaxPerCustomer > 0 {
		var over []string
		for c, n := range t.confirmedByCustomer {
			if n > int64(run.MaxPerCustomer) {
				over = append(over, fmt.Sprintf("%s holds %d", c, n))
			}
		}
		if len(over) > 0 {
			add(RuleCustomerLimit, "%d customers hold more than max_per_customer %d confirmed units: %s",
				len(over), run.MaxPerCustomer, sample(over))
		}
	}

	if l := run.Ledger; l != nil {
		if l.InitialStock+l.Movements != l.Stock {
			add(RuleLedger, "initial stock %d + movements %d = %d, but the database holds stock %d",
				l.InitialStock, l.Movements, l.InitialStock+l.Movements, l.Stock)
		}
		if l.InitialStock != run.InitialStock {
			add(RuleLedger, "the database records initial stock %d, but the item was created with %d",
				l.InitialStock, run.InitialStock)
		}
	}

	// Every unit is in stock or in a reserved line of a confirmed order, once
	// the system settled: fewer is a unit leaked, more a unit sold twice.
	if run.Held != nil && run.Ledger != nil {
		held, stock := *run.Held, run.Ledger.Stock
		switch sum := held + stock; {
		case sum < run.InitialStock:
			add(RuleLeaked, "the database holds %d units reserved by confirmed orders + stock %d = %d, but the item was created with %d: %d units are held by no confirmed order",
				held, stock, sum, run.InitialStock, run.InitialStock-sum)
		case sum > run.InitialStock:
			add(RuleOversold, "the database holds %d units reserved by confirmed orders + stock %d = %d, but the item had only %d",
				held, stock, sum, run.InitialStock)
		}
	}
	return vs
}

// orderRules are the rules about the orders themselves: each accepted, final,
// still there once confirmed, and one of its own.
func orderRules(t totals) []Violation {
	var vs []Violation
	add := adder(&vs)
	if len(t.notFinal) > 0 {
		add(RuleNotFinal, "%d of %d accepted orders are not final: %s",
			len(t.notFinal), len(t.orders), sample(t.notFinal))
	}

	if len(t.gone) > 0 {
		add(RuleLost, "%d of %d orders confirmed to their buyers were not found when read back: %s",
			len(t.gone), t.confirmedOrders, sample(t.gone))
	}

	if len(t.refusals) > 0 {
		var n int
		var why []string
		for r, c := range t.refusals {
			n += c
			why = append(why, fmt.Sprintf("%s (%d)", r, c))
		}
		add(RuleRefused, "%d valid orders were refused: %s", n, sample(why))
	}

	if len(t.duplicates) > 0 {
		add(RuleDuplicateOrder, "%d order ids were returned for more than one order: %s",
			len(t.duplicates), sample(t.duplicates))
	}

	return vs
}

// totals are the sums Verify's rules are written in.
type totals struct {
	orders              []Order // accepted, each id once
	confirmed           int64   // confirmed units
	confirmedOrders     int
	gone                []string // confirmed orders not found when read back
	uncertain           int64    // units of orders whose fate is unknown
	singleUnits         bool     // every order is for one unit
	confirmedByCustomer map[string]int64
	uncertainByCustomer map[string]int64
	ordersByCustomer    map[string]int64 // accepted orders
	notFinal            []string
	duplicates          []string
	refusals            map[string]int // by answer
}

func tally(run Run) totals {
	t := totals{
		singleUnits:         true,
		confirmedByCustomer: map[string]int64{},
		uncertainByCustomer: map[string]int64{},
		ordersByCustomer:    map[string]int64{},
		refusals:            map[string]int{},
	}
	seen := map[string]int{}
	for _, o := range run.Orders {
		if o.Quantity != 1 && (o.Accepted || o.Uncertain) {
			t.singleUnits = false
		}
		if !o.Accepted {
			if o.Refusal != "" {
				t.refusals[o.Refusal]++
			}
			if o.Uncertain {
				t.uncertain += int64(o.Quantity)
				t.uncertainByCustomer[o.CustomerID] += int64(o.Quantity)
			}
			continue
		}
		// An id answered for two different orders is one order in the system; count
		// it once so that only the duplicate rule reports it.
		if seen[o.ID]++; seen[o.ID] > 1 {
			if seen[o.ID] == 2 {
				t.duplicates = append(t.duplicates, o.ID)
			}
			continue
		}
		t.orders = append(t.orders, o)
		t.ordersByCustomer[o.CustomerID]++
		switch {
		case o.Status == StatusConfirmed:
			t.confirmed += int64(o.Quantity)
			t.confirmedOrders++
			t.confirmedByCustomer[o.CustomerID] += int64(o.Quantity)
			if o.Gone {
				t.gone = append(t.gone, o.ID)
			}
		case !o.Final():
			t.notFinal = append(t.notFinal, fmt.Sprintf("%s (%s)", o.ID, statusOrNone(o.Status)))
		}
	}
	return t
}

// stockOutside checks a reported stock against the range [lo, hi] the confirmed
// orders allow, and describes a miss.
func stockOutside(who string, got, lo, hi, initial int64, t totals) (string, bool) {
	if got >= lo && got <= hi {
		return "", true
	}
	if lo == hi {
		return fmt.Sprintf("%s stock %d, but initial stock %d - confirmed %d = %d",
			who, got, initial, t.confirmed, hi), false
	}
	return fmt.Sprintf("%s stock %d, but initial stock %d - confirmed %d - up to %d units of orders whose fate is unknown is between %d and %d",
		who, got, initial, t.confirmed, t.uncertain, lo, hi), false
}

func statusOrNone(s string) string {
	if s == "" {
		return "no status"
	}
	return s
}

// sample lists a few items, sorted so messages are reproducible.
func sample(items []string) string {
	sort.Strings(items)
	if len(items) <= examples {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:examples], ", ") + fmt.Sprintf(" and %d more", len(items)-examples)
}

// itemExamples bounds how many items' messages a merged violation quotes.
const itemExamples = 3

// VerifyItems verifies a run of many items, each by Verify. One item's
// violations are returned as Verify words them; with many items a broken rule
// would otherwise be reported thousands of times, so the violations of one rule
// are merged into one that counts the items and quotes a few. An order id
// answered for orders of two different items is a duplicate too, which no
// single item's run can see.
func VerifyItems(runs []Run) []Violation {
	vs := merge(runs, Verify)
	if len(runs) == 1 {
		return vs
	}
	// Ids across items: within one item Verify has counted them already.
	itemOf := map[string]int64{}
	var dups []string
	for _, run := range runs {
		ids := map[string]bool{}
		for _, o := range run.Orders {
			if !o.Accepted || ids[o.ID] {
				continue
			}
			ids[o.ID] = true
			if other, ok := itemOf[o.ID]; ok && other != run.Item {
				dups = append(dups, fmt.Sprintf("%s (items %d and %d)", o.ID, other, run.Item))
				continue
			}
			itemOf[o.ID] = run.Item
		}
	}
	if len(dups) > 0 {
		vs = append(vs, Violation{Rule: RuleDuplicateOrder, Message: fmt.Sprintf(
			"%d order ids were returned for orders of different items: %s", len(dups), sample(dups))})
	}
	return vs
}

// merge verifies each run by verify. One item's violations are returned as
// verify words them; of many, the violations of one rule are merged into one
// that counts the items and quotes a few, in rule order.
func merge(runs []Run, verify func(Run) []Violation) []Violation {
	if len(runs) == 1 {
		return verify(runs[0])
	}
	type merged struct {
		items    int
		examples []string
	}
	byRule := map[Rule]*merged{}
	var order []Rule
	for _, run := range runs {
		seen := map[Rule]bool{}
		for _, v := range verify(run) {
			m := byRule[v.Rule]
			if m == nil {
				m = &merged{}
				byRule[v.Rule] = m
				order = append(order, v.Rule)
			}
			if !seen[v.Rule] {
				seen[v.Rule] = true
				m.items++
			}
			if len(m.examples) < itemExamples {
				m.examples = append(m.examples, fmt.Sprintf("item %d: %s", run.Item, v.Message))
			}
		}
	}

	slices.SortStableFunc(order, func(a, b Rule) int { return rank(a) - rank(b) })
	var vs []Violation
	for _, r := range order {
		m := byRule[r]
		msg := fmt.Sprintf("%d of %d items: %s", m.items, len(runs), strings.Join(m.examples, "; "))
		if more := m.items - len(m.examples); more > 0 {
			msg += fmt.Sprintf("; and %d more items", more)
		}
		vs = append(vs, Violation{Rule: r, Message: msg})
	}
	return vs
}

// rules lists the invariants in the order Verify reports them.
var rules = []Rule{RuleStockNegative, RuleOversold, RuleStockMismatch, RuleUndersold,
	RuleUnjustifiedRejection, RuleCustomerLimit, RuleNotFinal, RuleLost, RuleRefused, RuleDuplicateOrder, RuleLedger,
	RuleNotSettled, RuleLeaked, RulePartialCart, RuleReasonMissing}

// Rules returns every invariant the checker knows, in report order.
func Rules() []Rule { return slices.Clone(rules) }

func rank(r Rule) int { return slices.Index(rules, r) }

// Line is one line of a cart as the gateway last answered it.
type Line struct {
	Item     int64
	Quantity int
	Status   string // pending, reserved, rejected, released, …; empty when the answer lacked the line
	Reason   string // why this line failed; empty when it did not
}

// Cart is an order of several lines for distinct items, decided all or
// nothing. Its Order's Quantity is the units of all its lines, its Status and
// Reason the cart's.
type Cart struct {
	Order
	Lines []Line
}

// Audit is what the database holds about a run of carts, read in one snapshot
// once the system settled, or when the time to settle ran out.
type Audit struct {
	Waited  time.Duration // until the system settled, or in vain
	Pending int           // orders of the run's items still pending
	Outbox  int           // outbox rows not yet published
	Holding int           // lines of rejected or canceled orders that still hold stock
	// Unreserved are confirmed orders of the run's items with a line that is
	// not reserved, each "id (item n: status)".
	Unreserved []string
}

// Settled reports whether nothing was left in flight: no order pending, no
// command in the outbox, no release still owed.
func (a Audit) Settled() bool { return a.Pending == 0 && a.Outbox == 0 && a.Holding == 0 }

// CartRun is everything the checker needs about a run of carts.
type CartRun struct {
	// Items has one Run per item: its initial and final stock, and when read,
	// its Ledger and Held. Orders are left empty: VerifyCarts fills them from
	// the carts' lines.
	Items []Run
	Carts []Cart
	Audit *Audit // nil when the database was not read
}

// VerifyCarts returns the invariants a run of carts breaks, or nil when it
// passes. Per item, as VerifyItems words and merges them: stock never below
// zero, no more confirmed than there was, the final stock what the confirmed
// carts left, and, from the database, the ledger balanced and every unit in
// stock or in a reserved line of a confirmed order. Per cart: every accepted
// cart final and one of its own, a confirmed cart's lines all reserved (as
// answered, and in the database), a rejected cart's reason that of one of its
// lines; and the system settled.
func VerifyCarts(run CartRun) []Violation {
	items := make([]Run, len(run.Items))
	index := make(map[int64]int, len(run.Items))
	for i, it := range run.Items {
		it.Carts, it.Orders = true, nil
		items[i] = it
		index[it.Item] = i
	}
	orders := make([]Order, len(run.Carts))
	for i, c := range run.Carts {
		orders[i] = c.Order
		for _, l := range c.Lines {
			k, ok := index[l.Item]
			if !ok {
				continue // an item the run did not create: the gateway would have refused the cart
			}
			o := c.Order
			o.Quantity, o.Reason = l.Quantity, l.Reason
			items[k].Orders = append(items[k].Orders, o)
		}
	}
	vs := merge(items, func(r Run) []Violation { return stockRules(r, tally(r)) })
	t := tally(Run{Orders: orders})
	vs = append(vs, orderRules(t)...)
	vs = append(vs, cartRules(t.orders, run.Carts, run.Audit)...)
	return byRank(vs)
}

// cartRules checks the carts' lines against their status, and the database's
// audit. accepted are the accepted carts' orders, each id once.
func cartRules(accepted []Order, carts []Cart, a *Audit) []Violation {
	var vs []Violation
	add := adder(&vs)
	if a != nil && !a.Settled() {
		add(RuleNotSettled, "after %s, %d orders were pending, %d outbox rows unpublished and %d lines of rejected or canceled orders still held stock",
			a.Waited.Round(time.Millisecond), a.Pending, a.Outbox, a.Holding)
	}

	once := make(map[string]bool, len(accepted))
	for _, o := range accepted {
		once[o.ID] = true
	}
	var partial, noReason []string
	for _, c := range carts {
		if !c.Accepted || !once[c.ID] {
			continue
		}
		once[c.ID] = false
		switch c.Status {
		case StatusConfirmed:
			for _, l := range c.Lines {
				if l.Status != LineReserved {
					partial = append(partial, fmt.Sprintf("%s (item %d: %s)", c.ID, l.Item, statusOrNone(l.Status)))
					break
				}
			}
		case StatusRejected:
			failed := slices.ContainsFunc(c.Lines, func(l Line) bool { return l.Reason != "" && l.Reason == c.Reason })
			if !failed {
				noReason = append(noReason, fmt.Sprintf("%s (%s)", c.ID, reasonOrNone(c.Reason)))
			}
		}
	}
	if len(partial) > 0 {
		add(RulePartialCart, "%d confirmed carts were answered with a line that is not reserved: %s", len(partial), sample(partial))
	}
	if a != nil && len(a.Unreserved) > 0 {
		add(RulePartialCart, "the database holds %d confirmed orders with a line that is not reserved: %s",
			len(a.Unreserved), sample(slices.Clone(a.Unreserved)))
	}
	if len(noReason) > 0 {
		add(RuleReasonMissing, "%d rejected carts carry no reason, or one none of their lines failed with: %s", len(noReason), sample(noReason))
	}
	return vs
}

func reasonOrNone(s string) string {
	if s == "" {
		return "no reason"
	}
	return "reason " + s
}

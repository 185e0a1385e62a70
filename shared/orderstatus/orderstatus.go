// Package orderstatus is the order lifecycle as data: the statuses of orders
// and of their lines, which may follow which, and the one status a customer
// sees, derived from the order's status and its lines' by a precedence table.
// The storefront shows the labelled code and computes nothing itself.
package orderstatus

import (
	"slices"
	"strings"
)

// Status is an order's status.
type Status string

// Order statuses. The worker decides an order pending → confirmed or
// rejected; the API moves a confirmed one on.
const (
	Pending         Status = "pending"
	Confirmed       Status = "confirmed"
	Rejected        Status = "rejected"
	AwaitingPayment Status = "awaiting_payment"
	Paid            Status = "paid"
	Active          Status = "active"
	Fulfilled       Status = "fulfilled"
	Canceled        Status = "canceled"
)

// Final reports whether the worker decided the order: any status but Pending.
func (s Status) Final() bool { return s != Pending }

// LineStatus is the status of one line of an order.
type LineStatus string

// Line statuses. A line is pending until its shard decides it, then
// reserved (it holds stock) or rejected (it never held any: its part failed,
// or the order was rejected before its shard was asked); a reserved line
// becomes released when it gives its stock back (the order was rejected by
// another part, canceled or not paid in time), or moves on through the
// fulfilment states. Rejected and released both hold nothing; only released
// ever did.
const (
	LinePending          LineStatus = "pending"
	Reserved             LineStatus = "reserved"
	LineRejected         LineStatus = "rejected"
	Released             LineStatus = "released"
	TransitForOutbound   LineStatus = "transit_for_outbound"
	RentInProgress       LineStatus = "rent_in_progress"
	PreparingAndCleaning LineStatus = "preparing_and_cleaning"
)

// LineStatuses lists every line status.
var LineStatuses = []LineStatus{LinePending, Reserved, LineRejected, Released, TransitForOutbound, RentInProgress, PreparingAndCleaning}

// orderNext lists the statuses an order may move to by the API. A confirmed
// order awaits payment from the customer's point of view, so it may be paid or
// canceled directly; the worker alone moves pending orders.
var orderNext = map[Status][]Status{
	Confirmed:       {AwaitingPayment, Paid, Canceled},
	AwaitingPayment: {Paid, Canceled},
	Paid:            {Active, Canceled},
	Active:          {Fulfilled},
}

// lineNext lists the statuses a line may move to by the API, and
// lineOrderStatuses the order statuses under which it may.
var (
	lineNext = map[LineStatus][]LineStatus{
		Reserved:           {TransitForOutbound},
		TransitForOutbound: {RentInProgress},
		RentInProgress:     {PreparingAndCleaning},
	}
	lineOrderStatuses = []Status{Paid, Active}
)

// CanMove reports whether an order may move from one status to another.
func CanMove(from, to Status) bool { return slices.Contains(orderNext[from], to) }

// CanMoveLine reports whether a line may move from one status to another while
// its order has status order.
func CanMoveLine(order Status, from, to LineStatus) bool {
	return slices.Contains(lineOrderStatuses, order) && slices.Contains(lineNext[from], to)
}

// Holds reports whether a line in this status holds stock.
func Holds(line LineStatus) bool {
	switch line {
	case Reserved, TransitForOutbound, RentInProgress, PreparingAndCleaning:
		return true
	}
	return false
}

// HoldingStatuses are the line statuses that hold stock.
var HoldingStatuses = []LineStatus{Reserved, TransitForOutbound, RentInProgress, PreparingAndCleaning}

// Unpaid are the order statuses that hold stock, or may (a cart whose parts
// are still being decided), without being paid: those the per-customer cap
// on unpaid orders counts. A confirmed order is payable from Confirmed and
// AwaitingPayment.
var Unpaid = []Status{Pending, Confirmed, AwaitingPayment}

// Payable reports whether an order in this status may be paid.
func Payable(order Status) bool { return order == Confirmed || order == AwaitingPayment }

// Display is the status a customer sees.
type Display struct {
	Code string `json:"code"`
	// Label is Code in the language of the answer: messages between the
	// programs carry none.
	Label string `json:"label,omitempty"`
}

// Display codes.
const (
	ShowProcessing      = "processing"
	ShowAwaitingPayment = "awaiting_payment"
	ShowShipped         = "shipped"
	ShowActive          = "active"
	ShowCompleted       = "completed"
	ShowCanceled        = "canceled"
)

// Codes lists every display code.
var Codes = []string{ShowProcessing, ShowAwaitingPayment, ShowShipped, ShowActive, ShowCompleted, ShowCanceled}

// linePrecedence ranks the line statuses that decide what an order shows:
// the lowest number present wins.
var linePrecedence = map[LineStatus]int{
	TransitForOutbound:   1,
	RentInProgress:       2,
	PreparingAndCleaning: 3,
}

// rule is a row of the display table: for an order in one of Orders whose
// top line status (by precedence) is Line — and, with Every, every line is —
// the customer sees Code. Rows are tried in order; an empty Line matches any.
type rule struct {
	Orders []Status
	Line   LineStatus
	Every  bool
	Code   string
}

var rules = []rule{
	{Orders: []Status{Pending}, Code: ShowProcessing},
	{Orders: []Status{Confirmed, AwaitingPayment}, Code: ShowAwaitingPayment},
	{Orders: []Status{Paid, Active}, Line: TransitForOutbound, Code: ShowShipped},
	{Orders: []Status{Active}, Line: RentInProgress, Code: ShowActive},
	{Orders: []Status{Fulfilled}, Code: ShowCompleted},
	{Orders: []Status{Active}, Line: PreparingAndCleaning, Every: true, Code: ShowCompleted},
	{Orders: []Status{Canceled, Rejected}, Code: ShowCanceled},
	// Between the rows above: paid and not shipped yet is still being
	// processed; active with lines in mixed fulfilment is active.
	{Orders: []Status{Paid}, Code: ShowProcessing},
	{Orders: []Status{Active}, Code: ShowActive},
}

var labels = map[string]map[string]string{
	"id": {
		ShowProcessing: "Sedang Diproses", ShowAwaitingPayment: "Menunggu Pembayaran", ShowShipped: "Pesanan Dikirim",
		ShowActive: "Pesanan Aktif", ShowCompleted: "Selesai", ShowCanceled: "Dibatalkan",
	},
	"en": {
		ShowProcessing: "Processing", ShowAwaitingPayment: "Awaiting Payment", ShowShipped: "Shipped",
		ShowActive: "Active", ShowCompleted: "Completed", ShowCanceled: "Canceled",
	},
}

// DefaultLang is the language of labels when none is asked for.
const DefaultLang = "id"

// Code derives the display code of an order from its status and its lines'.
func Code(order Status, lines []LineStatus) string {
	var top LineStatus
	best := 0
	for _, l := range lines {
		if p, ok := linePrecedence[l]; ok && (best == 0 || p < best) {
			top, best = l, p
		}
	}
	for _, r := range rules {
		if !slices.Contains(r.Orders, order) {
			continue
		}
		if r.Line == "" {
			return r.Code
		}
		if r.Line == top && (!r.Every || every(lines, top)) {
			return r.Code
		}
	}
	return ShowProcessing
}

func every(lines []LineStatus, status LineStatus) bool {
	for _, l := range lines {
		if l != status {
			return false
		}
	}
	return len(lines) > 0
}

// Label returns the label of a display code in lang ("id" or "en"; any other
// falls back to DefaultLang).
func Label(code, lang string) string {
	if l, ok := labels[lang]; ok {
		return l[code]
	}
	return labels[DefaultLang][code]
}

// Lang picks the label language from an explicit choice (a ?lang= value) or
// else an Accept-Language header.
func Lang(explicit, acceptLanguage string) string {
	if _, ok := labels[explicit]; ok {
		return explicit
	}
	for _, part := range strings.Split(acceptLanguage, ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		base, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if _, ok := labels[base]; ok {
			return base
		}
	}
	return DefaultLang
}

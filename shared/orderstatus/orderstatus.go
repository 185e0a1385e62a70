// Package orderstatus is the order lifecycle as data: which status may follow
// which, for orders and for their lines, and the one status a customer sees,
// derived from the order's status and its lines' by a precedence table. The
// storefront shows Derive's answer and computes nothing itself.
package orderstatus

import (
	"slices"
	"strings"

	"github.com/orderq/orderq/shared/message"
)

// Order statuses after the worker's decision.
const (
	Pending         = message.StatusPending
	Confirmed       = message.StatusConfirmed
	Rejected        = message.StatusRejected
	AwaitingPayment = "awaiting_payment"
	Paid            = "paid"
	Active          = "active"
	Fulfilled       = "fulfilled"
	Canceled        = "canceled"
)

// Line statuses. A line is pending until its shard decides it, then
// reserved (it holds stock) or rejected (it never held any: its part failed,
// or the order was rejected before its shard was asked); a reserved line
// becomes released when it gives its stock back (the order was rejected by
// another part, canceled or not paid in time), or moves on through the
// fulfilment states. Rejected and released both hold nothing; only released
// ever did.
const (
	LinePending          = "pending"
	Reserved             = "reserved"
	LineRejected         = "rejected"
	Released             = "released"
	TransitForOutbound   = "transit_for_outbound"
	RentInProgress       = "rent_in_progress"
	PreparingAndCleaning = "preparing_and_cleaning"
)

// LineStatuses lists every line status.
var LineStatuses = []string{LinePending, Reserved, LineRejected, Released, TransitForOutbound, RentInProgress, PreparingAndCleaning}

// orderNext lists the statuses an order may move to by the API. A confirmed
// order awaits payment from the customer's point of view, so it may be paid or
// canceled directly; the worker alone moves pending orders.
var orderNext = map[string][]string{
	Confirmed:       {AwaitingPayment, Paid, Canceled},
	AwaitingPayment: {Paid, Canceled},
	Paid:            {Active, Canceled},
	Active:          {Fulfilled},
}

// lineNext lists the statuses a line may move to by the API, and
// lineOrderStatuses the order statuses under which it may.
var (
	lineNext = map[string][]string{
		Reserved:           {TransitForOutbound},
		TransitForOutbound: {RentInProgress},
		RentInProgress:     {PreparingAndCleaning},
	}
	lineOrderStatuses = []string{Paid, Active}
)

// CanMove reports whether an order may move from one status to another.
func CanMove(from, to string) bool { return slices.Contains(orderNext[from], to) }

// CanMoveLine reports whether a line may move from one status to another while
// its order has status order.
func CanMoveLine(order, from, to string) bool {
	return slices.Contains(lineOrderStatuses, order) && slices.Contains(lineNext[from], to)
}

// Holds reports whether a line in this status holds stock.
func Holds(line string) bool {
	switch line {
	case Reserved, TransitForOutbound, RentInProgress, PreparingAndCleaning:
		return true
	}
	return false
}

// HoldingStatuses are the line statuses that hold stock.
var HoldingStatuses = []string{Reserved, TransitForOutbound, RentInProgress, PreparingAndCleaning}

// Unpaid are the order statuses that hold stock, or may (a cart whose parts
// are still being decided), without being paid: those the per-customer cap
// on unpaid orders counts. A confirmed order is payable from Confirmed and
// AwaitingPayment.
var Unpaid = []string{Pending, Confirmed, AwaitingPayment}

// Payable reports whether an order in this status may be paid.
func Payable(order string) bool { return order == Confirmed || order == AwaitingPayment }

// Display is the status a customer sees.
type Display struct {
	Code  string `json:"code"`
	Label string `json:"label"`
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
var linePrecedence = map[string]int{
	TransitForOutbound:   1,
	RentInProgress:       2,
	PreparingAndCleaning: 3,
}

// rule is a row of the display table: for an order in one of Orders whose
// top line status (by precedence) is Line — and, with Every, every line is —
// the customer sees Code. Rows are tried in order; an empty Line matches any.
type rule struct {
	Orders []string
	Line   string
	Every  bool
	Code   string
}

var rules = []rule{
	{Orders: []string{Pending}, Code: ShowProcessing},
	{Orders: []string{Confirmed, AwaitingPayment}, Code: ShowAwaitingPayment},
	{Orders: []string{Paid, Active}, Line: TransitForOutbound, Code: ShowShipped},
	{Orders: []string{Active}, Line: RentInProgress, Code: ShowActive},
	{Orders: []string{Fulfilled}, Code: ShowCompleted},
	{Orders: []string{Active}, Line: PreparingAndCleaning, Every: true, Code: ShowCompleted},
	{Orders: []string{Canceled, Rejected}, Code: ShowCanceled},
	// Between the rows above: paid and not shipped yet is still being
	// processed; active with lines in mixed fulfilment is active.
	{Orders: []string{Paid}, Code: ShowProcessing},
	{Orders: []string{Active}, Code: ShowActive},
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
func Code(order string, lines []string) string {
	top, best := "", 0
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

func every(lines []string, status string) bool {
	for _, l := range lines {
		if l != status {
			return false
		}
	}
	return len(lines) > 0
}

// Derive returns what the customer sees, labelled in lang ("id" or "en"; any
// other falls back to DefaultLang).
func Derive(order string, lines []string, lang string) Display {
	code := Code(order, lines)
	return Display{Code: code, Label: Label(code, lang)}
}

// Label returns the label of a display code in lang.
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

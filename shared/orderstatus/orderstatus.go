// Package orderstatus is the order lifecycle as data: the statuses of orders,
// of their lines and of the lines' units, which may follow which, and the one
// status a customer sees, derived from the order's status and its units' by a
// precedence table. The storefront shows the labelled code and computes
// nothing itself.
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

// LineStatus is the status of one line of an order, or of one of its units.
type LineStatus string

// Line statuses. A line is pending until its shard decides it, then
// reserved (it holds stock) or rejected (it never held any: its part failed,
// or the order was rejected before its shard was asked); a reserved line
// becomes released when it gives its stock back (the order was rejected by
// another part, canceled or not paid in time). Rejected and released both
// hold nothing; only released ever did.
//
// A reserved line of quantity q has q units, and each moves on through
// fulfilment on its own; the line's status is the earliest its units are in.
const (
	LinePending          LineStatus = "pending"
	Reserved             LineStatus = "reserved"
	LineRejected         LineStatus = "rejected"
	Released             LineStatus = "released"
	TransitForOutbound   LineStatus = "transit_for_outbound"
	RentInProgress       LineStatus = "rent_in_progress"
	PreparingAndCleaning LineStatus = "preparing_and_cleaning"
)

// unitStep is a status a unit goes through.
type unitStep struct {
	Status LineStatus
	// Precedence ranks the statuses that decide what an order shows: of
	// those its units are in, the lowest number wins (see rules). 0 ranks
	// none.
	Precedence int
	// Code is how a unit in Status is stored: never change or reuse one.
	Code byte
}

// fulfilment is the life of a unit from its line's reservation on, in the
// order a unit goes through it: a unit moves forward only, and may skip a
// step. Every status here holds stock.
var fulfilment = []unitStep{
	{Reserved, 0, 'r'},
	{TransitForOutbound, 1, 't'},
	{RentInProgress, 2, 'n'},
	{PreparingAndCleaning, 3, 'c'},
}

// HoldingStatuses are the line statuses that hold stock: those of a unit.
var HoldingStatuses = func() []LineStatus {
	statuses := make([]LineStatus, len(fulfilment))
	for i, f := range fulfilment {
		statuses[i] = f.Status
	}
	return statuses
}()

// LineStatuses lists every line status.
var LineStatuses = append([]LineStatus{LinePending, LineRejected, Released}, HoldingStatuses...)

// step is a status's position in fulfilment, -1 for a status no unit has.
func step(s LineStatus) int {
	return slices.IndexFunc(fulfilment, func(f unitStep) bool { return f.Status == s })
}

// orderNext lists the statuses an order may move to by the API. A confirmed
// order awaits payment from the customer's point of view, so it may be paid or
// canceled directly; the worker alone moves pending orders.
var orderNext = map[Status][]Status{
	Confirmed:       {AwaitingPayment, Paid, Canceled},
	AwaitingPayment: {Paid, Canceled},
	Paid:            {Active, Canceled},
	Active:          {Fulfilled},
}

// unitOrderStatuses are the order statuses under which units may move.
var unitOrderStatuses = []Status{Paid, Active}

// CanMove reports whether an order may move from one status to another.
func CanMove(from, to Status) bool { return slices.Contains(orderNext[from], to) }

// CanMoveUnit reports whether a unit may move from one status to another
// while its order has status order: forward through fulfilment, while the
// order is paid or active.
func CanMoveUnit(order Status, from, to LineStatus) bool {
	f := step(from)
	return slices.Contains(unitOrderStatuses, order) && f >= 0 && step(to) > f
}

// Holds reports whether a line or unit in this status holds stock.
func Holds(s LineStatus) bool { return step(s) >= 0 }

// Earliest returns the status of statuses that comes first in fulfilment:
// the status of a line whose units are in them.
func Earliest(statuses []LineStatus) LineStatus {
	var earliest LineStatus
	for _, s := range statuses {
		if earliest == "" || step(s) < step(earliest) {
			earliest = s
		}
	}
	return earliest
}

// precedence is a unit status's precedence, 0 for none.
func precedence(s LineStatus) int {
	if i := step(s); i >= 0 {
		return fulfilment[i].Precedence
	}
	return 0
}

// UnitCode is how a unit in status s is stored, false for a status no unit
// has.
func UnitCode(s LineStatus) (byte, bool) {
	if i := step(s); i >= 0 {
		return fulfilment[i].Code, true
	}
	return 0, false
}

// UnitStatus is the status of a unit stored as code, false for a code no
// status has.
func UnitStatus(code byte) (LineStatus, bool) {
	i := slices.IndexFunc(fulfilment, func(f unitStep) bool { return f.Code == code })
	if i < 0 {
		return "", false
	}
	return fulfilment[i].Status, true
}

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

// rule is a row of the display table: for an order in one of Orders whose
// top unit status (by precedence) is Line — and, with Every, every unit is —
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
	// processed; active with units in mixed fulfilment is active.
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

// Code derives the display code of an order from its status and the
// statuses its units are in (for a line that holds none, the line's status).
// How many units share a status does not matter.
func Code(order Status, statuses []LineStatus) string {
	var top LineStatus
	best := 0
	for _, s := range statuses {
		if p := precedence(s); p > 0 && (best == 0 || p < best) {
			top, best = s, p
		}
	}
	for _, r := range rules {
		if !slices.Contains(r.Orders, order) {
			continue
		}
		if r.Line == "" {
			return r.Code
		}
		if r.Line == top && (!r.Every || every(statuses, top)) {
			return r.Code
		}
	}
	return ShowProcessing
}

func every(statuses []LineStatus, status LineStatus) bool {
	for _, s := range statuses {
		if s != status {
			return false
		}
	}
	return len(statuses) > 0
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

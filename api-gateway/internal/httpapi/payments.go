package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/order"
	"github.com/orderq/orderq/shared/orderstore"
)

const (
	// signatureHeader carries the payment provider's signature of a webhook:
	// t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">. Several v1
	// values may be sent, any of which may match: the provider signs with the
	// old and the new secret while it is rotated.
	signatureHeader = "Orderq-Signature"
	// signatureTolerance bounds how far a signature's time may be from the
	// gateway's clock. A signed event replayed later is refused; one replayed
	// sooner names an event_id already applied, which changes nothing.
	signatureTolerance = 5 * time.Minute
	maxEventIDLen      = 128
	// Bounds of the refund list.
	maxRefundList     = 100
	defaultRefundList = 20
)

// errSignature is a webhook signature that is missing, malformed or wrong;
// errStale one whose time is outside signatureTolerance.
var (
	errSignature = errors.New("no valid signature")
	errStale     = errors.New("signature time outside the tolerance")
)

// verifySignature checks header, an Orderq-Signature, against body: its time
// within signatureTolerance of now, and one of its v1 values the HMAC of
// "<t>.<body>" under secret (compared in constant time).
func verifySignature(header string, body, secret []byte, now time.Time) error {
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		switch {
		case !ok:
			return fmt.Errorf("%w: %q is not key=value", errSignature, part)
		case key == "t":
			if ts != "" {
				return fmt.Errorf("%w: two times", errSignature)
			}
			ts = value
		case key == "v1":
			// A value that is not a SHA-256 HMAC cannot match; another may.
			if sig, err := hex.DecodeString(value); err == nil && len(sig) == sha256.Size {
				sigs = append(sigs, sig)
			}
		}
		// Other schemes (v0, a later v2) are not ours to check.
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return fmt.Errorf("%w: want t=<unix seconds>,v1=<hex HMAC-SHA256>", errSignature)
	}
	// Compared in seconds: no duration arithmetic to overflow on a wild t.
	if sec, tol := now.Unix(), int64(signatureTolerance/time.Second); t < sec-tol || t > sec+tol {
		return errStale
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	want := mac.Sum(nil)
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no v1 matches", errSignature)
}

// signatureRefused answers 401 for a webhook without a valid signature,
// naming the scheme it needs. Why a signature was refused is logged at debug
// level; the caller learns only whether its clock is off.
func (s *Server) signatureRefused(c *gin.Context, err error) {
	s.log.Debug("payment webhook refused", "path", c.Request.URL.Path, "err", err)
	msg := "the " + signatureHeader + " signature is missing or not valid"
	switch {
	case len(s.webhookSecret) == 0:
		msg = "the payment webhook is disabled: the gateway has no PAYMENT_WEBHOOK_SECRET"
	case errors.Is(err, errStale):
		msg = fmt.Sprintf("the %s time is more than %s from the gateway's clock", signatureHeader, signatureTolerance)
	}
	c.Header("WWW-Authenticate", signatureHeader+` realm="orderq-payments"`)
	s.fail(c, newError(http.StatusUnauthorized, "unauthorized", "%s", msg))
}

// webhookRequest is a payment event as the provider sends it.
type webhookRequest struct {
	EventID  *string `json:"event_id"`
	OrderID  *string `json:"order_id"`
	Status   *string `json:"status"`
	Amount   *int64  `json:"amount"`
	Currency *string `json:"currency"`
}

func (r *webhookRequest) validate() (order.Payment, error) {
	switch {
	case r.EventID == nil:
		return order.Payment{}, invalid("event_id is required")
	case !validEventID(*r.EventID):
		return order.Payment{}, invalid("event_id must be 1 to %d printable ASCII characters without spaces", maxEventIDLen)
	case r.OrderID == nil:
		return order.Payment{}, invalid("order_id is required")
	case !isOrderID(*r.OrderID):
		return order.Payment{}, invalid("order_id must be a lowercase UUID")
	case r.Status == nil:
		return order.Payment{}, invalid("status is required")
	case *r.Status != string(order.PaymentSucceeded) && *r.Status != string(order.PaymentFailed):
		return order.Payment{}, invalid("status must be %s or %s", order.PaymentSucceeded, order.PaymentFailed)
	case r.Amount == nil:
		return order.Payment{}, invalid("amount is required")
	case *r.Amount < 0:
		return order.Payment{}, invalid("amount must be a whole number of minor units, 0 or more")
	case r.Currency == nil:
		return order.Payment{}, invalid("currency is required")
	}
	if err := validCurrency("currency", *r.Currency); err != nil {
		return order.Payment{}, err
	}
	return order.Payment{EventID: *r.EventID, OrderID: *r.OrderID, Status: order.PaymentStatus(*r.Status),
		Amount: *r.Amount, Currency: *r.Currency}, nil
}

func validEventID(id string) bool {
	return id != "" && len(id) <= maxEventIDLen && printableASCII(id)
}

// paymentAnswer is the answer to a payment event the gateway applied, or had
// applied before.
type paymentAnswer struct {
	EventID string        `json:"event_id"`
	Outcome order.Outcome `json:"outcome"`
	Order   message.Order `json:"order"`
}

// paymentWebhook applies a payment event from the provider. The signature is
// checked on the raw body before anything is read from it; the event is then
// applied once, however often it is delivered (see orderstore.Pay).
func (s *Server) paymentWebhook(c *gin.Context) {
	ctx := c.Request.Context()
	body, err := readBody(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if len(s.webhookSecret) == 0 {
		s.signatureRefused(c, errors.New("no secret configured"))
		return
	}
	if err := verifySignature(c.GetHeader(signatureHeader), body, s.webhookSecret, time.Now()); err != nil {
		s.signatureRefused(c, err)
		return
	}
	var req webhookRequest
	if err := decodeBytes(body, &req); err != nil {
		s.fail(c, err)
		return
	}
	p, err := req.validate()
	if err != nil {
		s.fail(c, err)
		return
	}
	rc, err := s.store.Pay(ctx, p)
	switch {
	case errors.Is(err, order.ErrPending):
		s.fail(c, orderPending())
		return
	case errors.Is(err, order.ErrNotFound):
		if s.undecidedHere(c, p.OrderID) {
			s.fail(c, orderPending())
			return
		}
		s.fail(c, notFound("order"))
		return
	case err != nil:
		s.fail(c, err)
		return
	}
	s.log.Info("payment event", "event_id", p.EventID, "order_id", p.OrderID, "status", p.Status,
		"outcome", rc.Payment.Outcome, "duplicate", rc.Duplicate)
	if !rc.Duplicate {
		switch rc.Payment.Outcome {
		case order.OutcomeRefundRequired:
			s.metrics.refundsRequired.Inc()
			s.announce(ctx, rc.Order)
		case order.OutcomePaid:
			s.announce(ctx, rc.Order)
		}
	}
	if rc.Payment.Outcome == order.OutcomeAmountMismatch {
		s.fail(c, amountMismatch(rc))
		return
	}
	c.JSON(http.StatusOK, paymentAnswer{EventID: rc.Payment.EventID, Outcome: rc.Payment.Outcome, Order: s.view(c, rc.Order)})
}

func orderPending() *apiError {
	return newError(http.StatusConflict, "order_pending", "the order is still being decided; send the event again later")
}

// amountMismatch is the answer to an event that does not name the order's
// total: stored as such, it changed nothing.
func amountMismatch(rc orderstore.Receipt) *apiError {
	o := rc.Order
	if o.Total == nil || o.Currency == nil {
		return newError(http.StatusUnprocessableEntity, "amount_mismatch", "amount, currency: the order has no total to pay")
	}
	return newError(http.StatusUnprocessableEntity, "amount_mismatch", "amount, currency: %s, the order's total is %d %s",
		paidAmount(rc.Payment), *o.Total, *o.Currency)
}

func paidAmount(p order.PaymentRecord) string {
	if p.Amount == nil || p.Currency == nil {
		return "no amount"
	}
	return fmt.Sprintf("%d %s paid", *p.Amount, *p.Currency)
}

// paymentView is a stored payment event as the back office sees it.
type paymentView struct {
	EventID    string              `json:"event_id"`
	OrderID    string              `json:"order_id"`
	Source     order.Source        `json:"source"`
	Status     order.PaymentStatus `json:"status"`
	Amount     *int64              `json:"amount"`
	Currency   *string             `json:"currency"`
	Outcome    order.Outcome       `json:"outcome"`
	ReceivedAt time.Time           `json:"received_at"`
}

type refundView struct {
	Payment paymentView    `json:"payment"`
	Order   *message.Order `json:"order"` // null if the order is no longer stored
}

type refundList struct {
	Refunds          []refundView `json:"refunds"`
	NextAfter        *time.Time   `json:"next_after"`
	NextAfterEventID *string      `json:"next_after_event_id"`
}

// listRefunds lists the orders a payment arrived for that could not pay
// them, with that payment, oldest first: the back office's work list.
func (s *Server) listRefunds(c *gin.Context) {
	limit, err := queryLimit(c, defaultRefundList, maxRefundList)
	if err != nil {
		s.fail(c, err)
		return
	}
	var after *orderstore.RefundCursor
	if v := c.Query("after"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			s.fail(c, invalid("after must be an RFC 3339 time, as next_after gives it"))
			return
		}
		after = &orderstore.RefundCursor{After: t, EventID: c.Query("after_event_id")}
		if after.EventID != "" && !validEventID(after.EventID) {
			s.fail(c, invalid("after_event_id must be an event id, as next_after_event_id gives it"))
			return
		}
	} else if c.Query("after_event_id") != "" {
		s.fail(c, invalid("after_event_id goes with after"))
		return
	}
	page, err := s.store.Refunds(c.Request.Context(), after, limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	list := refundList{Refunds: make([]refundView, len(page.Refunds))}
	for i, r := range page.Refunds {
		p := r.Payment
		list.Refunds[i].Payment = paymentView{EventID: p.EventID, OrderID: p.OrderID, Source: p.Source, Status: p.Status,
			Amount: p.Amount, Currency: p.Currency, Outcome: p.Outcome, ReceivedAt: p.ReceivedAt}
		if r.Order != nil {
			v := s.view(c, *r.Order)
			list.Refunds[i].Order = &v
		}
	}
	if page.Next != nil {
		list.NextAfter, list.NextAfterEventID = &page.Next.After, &page.Next.EventID
	}
	c.JSON(http.StatusOK, list)
}

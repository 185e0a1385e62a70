package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/orderq/orderq/api-gateway/internal/auth"
	"github.com/orderq/orderq/api-gateway/internal/store"
	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/order"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/orderstore"
	"github.com/orderq/orderq/shared/shard"
)

const (
	maxKeyLen = 255
	// pollInterval is how often a waiting request looks in the database for a
	// result that did not reach this gateway's cache.
	pollInterval = 500 * time.Millisecond
	// Bounds of a customer's order list.
	maxOrderList     = 100
	defaultOrderList = 20
)

type lineRequest struct {
	ItemID   *int64 `json:"item_id"`
	Quantity *int   `json:"quantity"`
}

// orderRequest is a single-item order (item_id, quantity) or a cart (lines).
// CustomerID names the customer a storefront or admin orders for; a customer
// may leave it out, and it is their token's.
type orderRequest struct {
	ItemID     *int64        `json:"item_id"`
	Quantity   *int          `json:"quantity"`
	CustomerID *string       `json:"customer_id"`
	Lines      []lineRequest `json:"lines"`
}

// validate checks the request and returns its lines; a missing quantity is 1.
func (r *orderRequest) validate() ([]message.Line, error) {
	if r.CustomerID != nil {
		if err := message.ValidCustomerID(*r.CustomerID); err != nil {
			return nil, invalid("%v", err)
		}
	}
	if r.Lines == nil {
		line, err := validLine("", lineRequest{ItemID: r.ItemID, Quantity: r.Quantity})
		if err != nil {
			return nil, err
		}
		return []message.Line{line}, nil
	}
	if r.ItemID != nil || r.Quantity != nil {
		return nil, invalid("send item_id and quantity, or lines, not both")
	}
	if len(r.Lines) == 0 || len(r.Lines) > message.MaxLines {
		return nil, invalid("lines must hold 1 to %d lines", message.MaxLines)
	}
	lines := make([]message.Line, len(r.Lines))
	for i, lr := range r.Lines {
		line, err := validLine(fmt.Sprintf("lines[%d].", i), lr)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(lines[:i], func(l message.Line) bool { return l.ItemID == line.ItemID }) {
			return nil, invalid("lines[%d].item_id: item %d is already in the order; one line per item", i, line.ItemID)
		}
		line.No = i
		lines[i] = line
	}
	return lines, nil
}

func validLine(prefix string, r lineRequest) (message.Line, error) {
	if r.ItemID == nil {
		return message.Line{}, invalid("%sitem_id is required", prefix)
	}
	if *r.ItemID <= 0 {
		return message.Line{}, invalid("%sitem_id must be a positive whole number", prefix)
	}
	qty := 1
	if r.Quantity != nil {
		qty = *r.Quantity
	}
	if qty < 1 || qty > message.MaxQuantity {
		return message.Line{}, invalid("%squantity must be from 1 to %d", prefix, message.MaxQuantity)
	}
	return message.Line{ItemID: *r.ItemID, Quantity: qty}, nil
}

func validKey(key string) error {
	if len(key) > maxKeyLen {
		return invalid("Idempotency-Key must be at most %d characters", maxKeyLen)
	}
	if !printableASCII(key) {
		return invalid("Idempotency-Key must be printable ASCII without spaces")
	}
	return nil
}

// view is an order as answered: its display status labelled in the
// request's language.
func (s *Server) view(c *gin.Context, o message.Order) message.Order {
	o.DisplayStatus.Label = orderstatus.Label(o.DisplayStatus.Code, lang(c))
	return o
}

// lang is the language of the request's labels, read from its query and
// Accept-Language once, however many orders it answers with.
func lang(c *gin.Context) string {
	if l, ok := c.Get(ctxLang); ok {
		return l.(string)
	}
	l := orderstatus.Lang(c.Query("lang"), c.GetHeader("Accept-Language"))
	c.Set(ctxLang, l)
	return l
}

// actingFor returns the customer a request acts for: a customer's own (a
// request naming another is refused), or the one a storefront or admin names.
func actingFor(c *gin.Context, named *string) (string, error) {
	id := identity(c)
	if id.Role == auth.Customer {
		if named != nil && *named != id.Customer {
			return "", forbidden("customer_id names another customer than the token's")
		}
		return id.Customer, nil
	}
	if named == nil {
		return "", invalid("customer_id is required: name the customer this order is for")
	}
	return *named, nil
}

// mayRead reports whether the request may see o: a customer sees their own
// orders only, storefronts and admins every order.
func mayRead(c *gin.Context, o message.Order) bool {
	id := identity(c)
	return id.Role != auth.Customer || o.CustomerID == id.Customer
}

func (s *Server) createOrder(c *gin.Context) {
	ctx := c.Request.Context()
	var req orderRequest
	if err := decode(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	lines, err := req.validate()
	if err != nil {
		s.fail(c, err)
		return
	}
	customer, err := actingFor(c, req.CustomerID)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.allow(customer); err != nil {
		s.fail(c, err)
		return
	}
	wait, err := preferWait(c.GetHeader("Prefer"))
	if err != nil {
		s.fail(c, err)
		return
	}
	key := c.GetHeader("Idempotency-Key")
	if err := validKey(key); err != nil {
		s.fail(c, err)
		return
	}
	// Intake does not need the database: the worker decides every order
	// against the items and orders it reads itself, retrying until the
	// database answers, and rejects an unknown item (item_not_found). The
	// reads here only answer sooner what the worker would decide: an item
	// known to be missing is 404 now, an earlier order of the key is answered
	// as it stands. While the database is out of reach (or slower than
	// store.IntakeReadTimeout) the order is published unchecked, the queue
	// holds it, and the worker applies an order id once.
	for i, l := range lines {
		exists, err := s.store.ItemExists(ctx, l.ItemID)
		if err != nil && unchecked(ctx, err) {
			continue
		}
		if err != nil {
			s.fail(c, err)
			return
		}
		if !exists {
			e := notFound("item")
			if req.Lines != nil {
				e.message = fmt.Sprintf("lines[%d]: item %d not found", i, l.ItemID)
			}
			s.fail(c, e)
			return
		}
	}

	o := pendingOrder(uuid.Must(uuid.NewV7()).String(), customer, lines, time.Now().UTC().Truncate(time.Microsecond))
	if key != "" {
		// The key names the order: its id is derived from the customer and the
		// key, so a retry, a duplicate racing the first request, or a request to
		// another gateway instance all name the same order, and the worker
		// applies an order id once. Nothing is written on this path.
		o.ID = s.keyedOrderID(o.CustomerID, key)
		// A request that waits learns of an earlier order with its key from the
		// worker, which looks the order ids of a whole batch up at once; one
		// that does not wait is answered from this instance's cache or the
		// database.
		prior, found := s.cache.Order(o.ID)
		if !found && wait == 0 {
			rctx, cancel := context.WithTimeout(ctx, store.IntakeReadTimeout)
			prior, found, err = s.order(rctx, o.ID)
			cancel()
			if err != nil && !unchecked(ctx, err) {
				s.fail(c, err)
				return
			}
		}
		if found {
			s.answerKeyed(c, s.awaitFinal(c, prior, wait), lines)
			return
		}
	}
	parts := map[int]bool{}
	for _, l := range lines {
		parts[shard.Of(l.ItemID, s.shards)] = true
	}
	err = s.intake.Submit(ctx, message.Command{
		Kind: message.KindOrder, ID: o.ID, AcceptedAt: o.CreatedAt, CustomerID: o.CustomerID,
		Lines: lines, Parts: len(parts),
	})
	if err != nil {
		s.fail(c, err)
		return
	}
	s.metrics.accepted.Inc()
	o = s.awaitFinal(c, o, wait)
	if !o.Final() {
		// Remembered as pending only now, for the GETs that will follow a
		// 202: under a crowd most orders are answered final at once.
		s.cache.Accepted(o)
	}
	if key != "" {
		s.answerKeyed(c, o, lines)
		return
	}
	s.answerOrder(c, o)
}

// unchecked reports whether an intake read that failed with err may be
// skipped: the database was out of reach, and the request is still there.
func unchecked(ctx context.Context, err error) bool {
	return ctx.Err() == nil && database.Unavailable(err)
}

// awaitFinal waits up to wait seconds for o to become final, saying so in
// Preference-Applied, and returns o as it then stands. Server-Timing says how
// long the answer waited once the order was accepted (wait;dur=, in ms): a
// client that waits still learns when its order was accepted.
func (s *Server) awaitFinal(c *gin.Context, o message.Order, wait int) message.Order {
	if o.Final() || wait == 0 {
		return o
	}
	start := time.Now()
	final, ok, waited := s.waitOrder(c, o.ID, wait)
	if !waited {
		return o
	}
	if ok {
		o = final
	}
	c.Header("Preference-Applied", "wait="+strconv.Itoa(wait))
	c.Header("Server-Timing", "wait;dur="+strconv.FormatFloat(float64(time.Since(start).Microseconds())/1000, 'f', 3, 64))
	return o
}

// answerKeyed answers a request with an Idempotency-Key: with its order, or
// with 422 when the key's order turns out to have other lines.
func (s *Server) answerKeyed(c *gin.Context, o message.Order, lines []message.Line) {
	if !sameLines(o.Lines, lines) {
		s.fail(c, newError(http.StatusUnprocessableEntity, "idempotency_key_reused",
			"this Idempotency-Key was used with a different request body"))
		return
	}
	s.answerOrder(c, o)
}

// pendingOrder is an accepted order as it stands until the worker decides it.
func pendingOrder(id, customer string, lines []message.Line, now time.Time) message.Order {
	o := order.Order{ID: id, CustomerID: customer, Status: orderstatus.Pending, CreatedAt: now, UpdatedAt: now,
		Lines: make([]order.Line, len(lines))}
	for i, l := range lines {
		o.Lines[i] = order.Line{No: l.No, ItemID: l.ItemID, Quantity: l.Quantity, Status: orderstatus.LinePending}
	}
	return o.Message()
}

func sameLines(have []message.OrderLine, want []message.Line) bool {
	if len(have) != len(want) {
		return false
	}
	for i := range have {
		if have[i].ItemID != want[i].ItemID || have[i].Quantity != want[i].Quantity {
			return false
		}
	}
	return true
}

// keyedOrderID is the order id an Idempotency-Key stands for: an HMAC of the
// customer and the key under ORDER_ID_SECRET, as a UUID. Keys are per
// customer, so two customers never share one, and without the secret nobody
// can compute the id of another customer's order. Every gateway with the same
// secret derives the same id, across restarts.
//
// A key that is a UUIDv7 gives a UUIDv7: the key's timestamp, then 74 bits of
// the HMAC. Orders are stored in id order, so time-ordered ids are added at
// the end of the store's indexes, and its cost stays flat as the history
// grows; any other key gives a UUID of version 8, all HMAC, stored at a
// random place.
func (s *Server) keyedOrderID(customer, key string) string {
	mac := hmac.New(sha256.New, s.orderIDKey)
	mac.Write([]byte(customer))
	mac.Write([]byte{0})
	mac.Write([]byte(key))
	var u uuid.UUID
	copy(u[:], mac.Sum(nil))
	if k, err := uuid.Parse(key); err == nil && len(key) == 36 && k.Version() == 7 {
		copy(u[:6], k[:6])
		u[6] = u[6]&0x0f | 0x70 // version 7
	} else {
		u[6] = u[6]&0x0f | 0x80 // version 8
	}
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return u.String()
}

// order returns what is known of an order: from the cache (final, or pending
// if this instance accepted it), else from the database.
func (s *Server) order(ctx context.Context, id string) (message.Order, bool, error) {
	if o, ok := s.cache.Order(id); ok {
		return o, true, nil
	}
	o, err := s.store.Order(ctx, id)
	switch {
	case errors.Is(err, order.ErrNotFound):
		return o, false, nil
	case err != nil:
		return o, false, err
	}
	return o, true, nil
}

// undecidedHere reports whether this gateway accepted order id, which the
// caller may see, and the worker has not decided it yet: the database does
// not know it, and a change to it must wait.
func (s *Server) undecidedHere(c *gin.Context, id string) bool {
	o, ok := s.cache.Order(id)
	return ok && !o.Final() && mayRead(c, o)
}

// answerOrder answers with an order: 200 when final, 202 while pending.
func (s *Server) answerOrder(c *gin.Context, o message.Order) {
	c.Header("Location", "/api/v1/orders/"+o.ID)
	status := http.StatusAccepted
	if o.Final() {
		status = http.StatusOK
	}
	c.JSON(status, s.view(c, o))
}

// waitOrder waits up to wait seconds for an order's final state. A waiting
// request holds a place among MaxWaiters instead of MaxInFlight, so idle
// waiters never shut out new orders; when every place is taken it does not
// wait (waited false) and answers with what is known now.
func (s *Server) waitOrder(c *gin.Context, id string, wait int) (o message.Order, final, waited bool) {
	select {
	case s.waiters <- struct{}{}:
		defer func() { <-s.waiters }()
	default:
		s.metrics.waitersFull.Inc()
		return o, false, false
	}
	if leave, ok := c.Get(ctxLeave); ok {
		leave.(func())()
	}
	ctx := c.Request.Context()
	// The wait ends when the gateway shuts down (the cache is closed).
	res, ok := s.cache.Wait(ctx, id, time.Duration(wait)*time.Second, pollInterval, func() (message.Result, bool) {
		o, err := s.store.Order(ctx, id)
		if err != nil || !o.Final() {
			return message.Result{}, false
		}
		return message.Result{Kind: message.KindOrder, ID: id, Order: &o}, true
	})
	if !ok || res.Order == nil {
		return o, false, true
	}
	return *res.Order, true, true
}

// orderID reads and checks the order id of the path.
func orderID(c *gin.Context) (string, error) {
	id := c.Param("id")
	if !isOrderID(id) {
		return "", newError(http.StatusBadRequest, "invalid_id", "order id must be a lowercase UUID")
	}
	return id, nil
}

func (s *Server) getOrder(c *gin.Context) {
	ctx := c.Request.Context()
	id, err := orderID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	wait, err := parseWait("wait", c.Query("wait"))
	if err != nil {
		s.fail(c, err)
		return
	}
	o, known, err := s.order(ctx, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	if known && !mayRead(c, o) {
		s.fail(c, notFound("order"))
		return
	}
	if known && !o.Final() && wait == 0 {
		// Pending here; the worker may have decided it already, and a result
		// this gateway missed is found in the database. A long-poll finds it
		// there too, at its first poll.
		if db, err := s.store.Order(ctx, id); err == nil {
			o = db
		}
	}
	if (!known || !o.Final()) && wait > 0 {
		// An order another gateway accepted a moment ago is known here only
		// once the worker decided it: waiting covers that too.
		if final, ok, _ := s.waitOrder(c, id, wait); ok {
			o, known = final, true
		}
	}
	if !known || !mayRead(c, o) {
		s.fail(c, notFound("order"))
		return
	}
	c.JSON(http.StatusOK, s.view(c, o))
}

type orderList struct {
	Orders       []message.Order `json:"orders"`
	NextBefore   *time.Time      `json:"next_before"`
	NextBeforeID *string         `json:"next_before_id"`
}

// listOrders lists a customer's orders, newest first, filtered in SQL by the
// status the customer sees.
func (s *Server) listOrders(c *gin.Context) {
	var named *string
	if v, ok := c.GetQuery("customer_id"); ok {
		if err := message.ValidCustomerID(v); err != nil {
			s.fail(c, invalid("customer_id: %v", err))
			return
		}
		named = &v
	}
	customer, err := actingFor(c, named)
	if err != nil {
		s.fail(c, err)
		return
	}
	display := c.Query("display_status")
	if display != "" && !slices.Contains(orderstatus.Codes, display) {
		s.fail(c, invalid("display_status must be one of %v", orderstatus.Codes))
		return
	}
	limit, err := queryLimit(c, defaultOrderList, maxOrderList)
	if err != nil {
		s.fail(c, err)
		return
	}
	var after *orderstore.Cursor
	if v := c.Query("before"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			s.fail(c, invalid("before must be an RFC 3339 time, as next_before gives it"))
			return
		}
		after = &orderstore.Cursor{Before: t, ID: c.Query("before_id")}
		if after.ID != "" {
			if !isOrderID(after.ID) {
				s.fail(c, invalid("before_id must be an order id, as next_before_id gives it"))
				return
			}
		}
	} else if c.Query("before_id") != "" {
		s.fail(c, invalid("before_id goes with before"))
		return
	}
	page, err := s.store.Orders(c.Request.Context(), customer, display, after, limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	list := orderList{Orders: make([]message.Order, len(page.Orders))}
	if page.Next != nil {
		list.NextBefore, list.NextBeforeID = &page.Next.Before, &page.Next.ID
	}
	for i := range page.Orders {
		list.Orders[i] = s.view(c, page.Orders[i])
	}
	c.JSON(http.StatusOK, list)
}

type statusRequest struct {
	Status *string `json:"status"`
}

// payOrder is the back office's manual payment.
func (s *Server) payOrder(c *gin.Context) { s.moveOrder(c, orderstatus.Paid, nil) }

// cancelOrder cancels an order. Customers cancel their own orders, and
// customers and storefronts only while unpaid: canceling a paid order is a
// refund, the back office's to decide.
func (s *Server) cancelOrder(c *gin.Context) {
	if identity(c).Role == auth.Admin {
		s.moveOrder(c, orderstatus.Canceled, nil)
		return
	}
	s.moveOrder(c, orderstatus.Canceled, func(o message.Order) error {
		if !mayRead(c, o) {
			return order.ErrNotFound
		}
		if o.Status == orderstatus.Paid {
			return forbidden("the order is %s: canceling it is a refund, which only an admin may do", o.Status)
		}
		return nil
	})
}

// setOrderStatus is the back office's move of an order.
func (s *Server) setOrderStatus(c *gin.Context) {
	to, err := decodeStatus(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.moveOrder(c, orderstatus.Status(to), nil)
}

// decodeStatus reads the body of a status move: {"status": "…"}.
func decodeStatus(c *gin.Context) (string, error) {
	var req statusRequest
	if err := decode(c, &req); err != nil {
		return "", err
	}
	if req.Status == nil || *req.Status == "" {
		return "", invalid("status is required")
	}
	return *req.Status, nil
}

func (s *Server) moveOrder(c *gin.Context, to orderstatus.Status, may func(message.Order) error) {
	id, err := orderID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	o, err := s.store.MoveOrder(c.Request.Context(), id, to, s.shards, may)
	if errors.Is(err, order.ErrNotFound) {
		if s.undecidedHere(c, id) {
			err = fmt.Errorf("%w: order is pending, cannot become %s", order.ErrInvalidTransition, to)
		}
	}
	if err != nil {
		s.fail(c, lifecycleErr(err))
		return
	}
	if to == orderstatus.Canceled {
		s.metrics.canceled.Inc()
	}
	s.announce(c.Request.Context(), o)
	c.JSON(http.StatusOK, s.view(c, o))
}

// setLineStatus is the back office's move of every unit of a line.
func (s *Server) setLineStatus(c *gin.Context) {
	id, item, err := lineParams(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	to, err := decodeUnitStatus(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.moveUnits(c, func(ctx context.Context) (message.Order, error) { return s.store.MoveLine(ctx, id, item, to) })
}

// setUnitStatus is the back office's move of one unit of a line.
func (s *Server) setUnitStatus(c *gin.Context) {
	id, item, err := lineParams(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	unit, err := pathNumber(c, "unit", "unit")
	if err != nil {
		s.fail(c, err)
		return
	}
	to, err := decodeUnitStatus(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	units := []order.UnitRef{{ItemID: item, Unit: int(unit)}}
	s.moveUnits(c, func(ctx context.Context) (message.Order, error) { return s.store.MoveUnits(ctx, id, to, units) })
}

// unitsRequest is the body of a move of several units:
// {"status": "…", "units": [{"item_id": 7, "unit": 1}, …]}.
type unitsRequest struct {
	Status *string `json:"status"`
	Units  []struct {
		ItemID *int64 `json:"item_id"`
		Unit   *int   `json:"unit"`
	} `json:"units"`
}

// setUnitsStatus is the back office's move of several units of an order at
// once, all or none.
func (s *Server) setUnitsStatus(c *gin.Context) {
	id, err := orderID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var req unitsRequest
	if err := decode(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	to, err := unitStatus(req.Status)
	if err != nil {
		s.fail(c, err)
		return
	}
	if len(req.Units) == 0 {
		s.fail(c, invalid("units is required: name at least one unit"))
		return
	}
	units := make([]order.UnitRef, len(req.Units))
	for i, u := range req.Units {
		switch {
		case u.ItemID == nil || *u.ItemID <= 0:
			s.fail(c, invalid("units[%d].item_id must be a positive whole number", i))
			return
		case u.Unit == nil || *u.Unit <= 0:
			s.fail(c, invalid("units[%d].unit must be a positive whole number", i))
			return
		}
		units[i] = order.UnitRef{ItemID: *u.ItemID, Unit: *u.Unit}
		if slices.Contains(units[:i], units[i]) {
			s.fail(c, invalid("units[%d] names unit %d of item %d again", i, units[i].Unit, units[i].ItemID))
			return
		}
	}
	s.moveUnits(c, func(ctx context.Context) (message.Order, error) { return s.store.MoveUnits(ctx, id, to, units) })
}

// lineParams reads the order id and item id of a line's path.
func lineParams(c *gin.Context) (string, int64, error) {
	id, err := orderID(c)
	if err != nil {
		return "", 0, err
	}
	item, err := pathNumber(c, "item_id", "item id")
	return id, item, err
}

// decodeUnitStatus reads the body of a move of units: {"status": "…"}.
func decodeUnitStatus(c *gin.Context) (orderstatus.LineStatus, error) {
	var req statusRequest
	if err := decode(c, &req); err != nil {
		return "", err
	}
	return unitStatus(req.Status)
}

// unitStatus checks the status units are to move to: required, and a line
// status (whether the units may move there is the lifecycle's to say).
func unitStatus(status *string) (orderstatus.LineStatus, error) {
	if status == nil || *status == "" {
		return "", invalid("status is required")
	}
	if to := orderstatus.LineStatus(*status); slices.Contains(orderstatus.LineStatuses, to) {
		return to, nil
	}
	return "", invalid("status must be one of %v", orderstatus.LineStatuses)
}

// moveUnits runs a move of units and answers with the order it left.
func (s *Server) moveUnits(c *gin.Context, move func(context.Context) (message.Order, error)) {
	o, err := move(c.Request.Context())
	if err != nil {
		s.fail(c, lifecycleErr(err))
		return
	}
	s.announce(c.Request.Context(), o)
	c.JSON(http.StatusOK, s.view(c, o))
}

// announce updates this instance's cache with an order's new state and tells
// the other instances. The change is committed already: a failed
// announcement only leaves other caches stale until their entries expire.
func (s *Server) announce(ctx context.Context, o message.Order) {
	rs := []message.Result{{Kind: message.KindOrder, ID: o.ID, Order: &o}}
	s.cache.Deliver(rs)
	if err := s.intake.Announce(ctx, rs); err != nil {
		s.log.Warn("announce order change", "order_id", o.ID, "err", err)
	}
}

func lifecycleErr(err error) error {
	switch {
	case errors.Is(err, order.ErrNotFound):
		return notFound("order")
	case errors.Is(err, order.ErrLineNotFound):
		return newError(http.StatusNotFound, "line_not_found", "the order has no line for this item")
	case errors.Is(err, order.ErrUnitNotFound):
		return newError(http.StatusNotFound, "unit_not_found", "%s", err.Error())
	case errors.Is(err, order.ErrInvalidTransition):
		return newError(http.StatusConflict, "invalid_transition", "%s", err.Error())
	}
	return err
}

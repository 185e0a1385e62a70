package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/orderq/orderq/api-gateway/internal/store"
	"github.com/orderq/orderq/shared/message"
)

const (
	maxKeyLen = 255
	// pollInterval is how often a waiting request looks in the database for a
	// result that did not reach this gateway's cache.
	pollInterval = 500 * time.Millisecond
)

type orderRequest struct {
	ItemID     *int64  `json:"item_id"`
	Quantity   *int    `json:"quantity"`
	CustomerID *string `json:"customer_id"`
}

// validate checks the request and fills in the default quantity of 1.
func (r *orderRequest) validate() error {
	if r.ItemID == nil {
		return invalid("item_id is required")
	}
	if *r.ItemID <= 0 {
		return invalid("item_id must be a positive whole number")
	}
	if r.Quantity == nil {
		one := 1
		r.Quantity = &one
	}
	if *r.Quantity < 1 || *r.Quantity > message.MaxQuantity {
		return invalid("quantity must be from 1 to %d", message.MaxQuantity)
	}
	if r.CustomerID == nil {
		return invalid("customer_id is required")
	}
	if err := message.ValidCustomerID(*r.CustomerID); err != nil {
		return invalid("%v", err)
	}
	return nil
}

func validKey(key string) error {
	if len(key) > maxKeyLen {
		return invalid("Idempotency-Key must be at most %d characters", maxKeyLen)
	}
	for _, r := range key {
		if r < 0x21 || r > 0x7e {
			return invalid("Idempotency-Key must be printable ASCII without spaces")
		}
	}
	return nil
}

func (s *Server) createOrder(c *gin.Context) {
	ctx := c.Request.Context()
	var req orderRequest
	if err := decode(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if err := req.validate(); err != nil {
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
	exists, err := s.store.ItemExists(ctx, *req.ItemID)
	if err != nil {
		s.fail(c, err)
		return
	}
	if !exists {
		s.fail(c, notFound("item"))
		return
	}

	order := message.Order{
		ID: uuid.Must(uuid.NewV7()).String(), ItemID: *req.ItemID, Quantity: *req.Quantity,
		CustomerID: *req.CustomerID, Status: message.StatusPending, CreatedAt: time.Now().UTC().Truncate(time.Microsecond),
	}
	if key != "" {
		// The key names the order: its id is derived from the customer and the
		// key, so a retry, a duplicate racing the first request, or a request to
		// another gateway instance all name the same order, and the worker
		// applies an order id once. Nothing is written on this path.
		order.ID = keyedOrderID(order.CustomerID, key)
		prior, found, err := s.order(ctx, order.ID)
		if err != nil {
			s.fail(c, err)
			return
		}
		if found {
			if prior.ItemID != order.ItemID || prior.Quantity != order.Quantity {
				s.fail(c, newError(http.StatusUnprocessableEntity, "idempotency_key_reused",
					"this Idempotency-Key was used with a different request body"))
				return
			}
			s.answerOrder(c, prior, wait)
			return
		}
	}
	err = s.intake.Submit(ctx, message.Command{
		Kind: message.KindOrder, ID: order.ID, ItemID: order.ItemID, AcceptedAt: order.CreatedAt,
		Quantity: order.Quantity, CustomerID: order.CustomerID,
	})
	if err != nil {
		s.fail(c, err)
		return
	}
	s.metrics.accepted.Inc()
	s.cache.Accepted(order)
	s.answerOrder(c, order, wait)
}

// keyNamespace scopes the order ids derived from Idempotency-Keys.
var keyNamespace = uuid.MustParse("6f0e5f5e-3b1c-4c55-9d0a-8c0d3f6b9a71")

// keyedOrderID is the order id an Idempotency-Key stands for. Keys are per
// customer: two customers never share one by accident.
func keyedOrderID(customer, key string) string {
	return uuid.NewSHA1(keyNamespace, []byte(customer+"\x00"+key)).String()
}

// order returns what is known of an order: from the cache (final, or pending
// if this instance accepted it), else from the database.
func (s *Server) order(ctx context.Context, id string) (message.Order, bool, error) {
	if o, ok := s.cache.Order(id); ok {
		return o, true, nil
	}
	o, err := s.store.Order(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return o, false, nil
	case err != nil:
		return o, false, err
	}
	return o, true, nil
}

// answerOrder answers with an order, first waiting up to wait seconds for it
// to become final: 200 when final, 202 while pending.
func (s *Server) answerOrder(c *gin.Context, o message.Order, wait int) {
	if !o.Final() && wait > 0 {
		if final, ok := s.waitOrder(c.Request.Context(), o.ID, wait); ok {
			o = final
		}
		c.Header("Preference-Applied", "wait="+strconv.Itoa(wait))
	}
	c.Header("Location", "/api/v1/orders/"+o.ID)
	status := http.StatusAccepted
	if o.Final() {
		status = http.StatusOK
	}
	c.JSON(status, o)
}

// waitOrder waits up to wait seconds for an order's final state.
func (s *Server) waitOrder(ctx context.Context, id string, wait int) (message.Order, bool) {
	wctx, cancel := context.WithTimeout(ctx, time.Duration(wait)*time.Second)
	defer cancel()
	res, ok := s.cache.Wait(wctx, id, pollInterval, func() (message.Result, bool) {
		o, err := s.store.Order(wctx, id)
		if err != nil {
			return message.Result{}, false
		}
		return message.Result{Kind: message.KindOrder, ID: id, Order: &o}, true
	})
	if !ok || res.Order == nil {
		return message.Order{}, false
	}
	return *res.Order, true
}

func (s *Server) getOrder(c *gin.Context) {
	ctx := c.Request.Context()
	id := c.Param("id")
	if u, err := uuid.Parse(id); err != nil || u.String() != id {
		s.fail(c, newError(http.StatusBadRequest, "invalid_id", "order id must be a lowercase UUID"))
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
	if known && !o.Final() {
		// Pending here; the worker may have decided it already.
		if db, err := s.store.Order(ctx, id); err == nil {
			o = db
		}
	}
	if (!known || !o.Final()) && wait > 0 {
		// An order another gateway accepted a moment ago is known here only
		// once the worker decided it: waiting covers that too.
		if final, ok := s.waitOrder(ctx, id, wait); ok {
			o, known = final, true
		}
	}
	if !known {
		s.fail(c, notFound("order"))
		return
	}
	c.JSON(http.StatusOK, o)
}

package httpapi

import (
	"context"
	"encoding/json"
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
	// keyInFlightWait is how long a request waits for a concurrent request with
	// the same Idempotency-Key to be published.
	keyInFlightWait = 5 * time.Second
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
		// Keys are per customer: two customers never share one by accident.
		key = order.CustomerID + "\x00" + key
		res, err := s.reserveKey(ctx, key, &req, order.ID, order.CreatedAt)
		if err != nil {
			s.fail(c, err)
			return
		}
		if !res.Fresh {
			order.ID, order.CreatedAt = res.OrderID, res.CreatedAt
			s.answerOrder(c, s.knownOrder(ctx, order), wait)
			return
		}
	}
	err = s.intake.Submit(ctx, message.Command{
		Kind: message.KindOrder, ID: order.ID, ItemID: order.ItemID, AcceptedAt: order.CreatedAt,
		Quantity: order.Quantity, CustomerID: order.CustomerID,
	})
	if err != nil {
		if key != "" {
			if rerr := s.store.ReleaseKey(context.WithoutCancel(ctx), key, order.ID); rerr != nil {
				s.log.Error("release idempotency key", "order_id", order.ID, "err", rerr)
			}
		}
		s.fail(c, err)
		return
	}
	s.metrics.accepted.Inc()
	s.cache.Accepted(order)
	if key != "" {
		// The order is accepted whatever happens here; a key left reserved is
		// taken over by a retry after a minute.
		if err := s.store.AcceptKey(context.WithoutCancel(ctx), key); err != nil {
			s.log.Error("accept idempotency key", "order_id", order.ID, "err", err)
		}
	}
	s.answerOrder(c, order, wait)
}

// reserveKey reserves an Idempotency-Key, waiting a little while a concurrent
// request with the same key is being published.
func (s *Server) reserveKey(ctx context.Context, key string, req *orderRequest, orderID string, now time.Time) (store.Reservation, error) {
	canonical, err := json.Marshal(req)
	if err != nil {
		return store.Reservation{}, err
	}
	deadline := time.Now().Add(keyInFlightWait)
	for {
		res, err := s.store.ReserveKey(ctx, key, canonical, orderID, now)
		switch {
		case errors.Is(err, store.ErrKeyReused):
			return res, newError(http.StatusUnprocessableEntity, "idempotency_key_reused",
				"this Idempotency-Key was used with a different request body")
		case errors.Is(err, store.ErrKeyInFlight) && time.Now().Before(deadline):
			select {
			case <-ctx.Done():
				return res, ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
			continue
		case errors.Is(err, store.ErrKeyInFlight):
			return res, newError(http.StatusConflict, "idempotency_key_in_flight",
				"a request with this Idempotency-Key is still being processed; retry shortly")
		}
		return res, err
	}
}

// knownOrder returns the latest state of an accepted order: the cache or the
// database if it is final, else the pending order given.
func (s *Server) knownOrder(ctx context.Context, pending message.Order) message.Order {
	if o, ok := s.cache.Order(pending.ID); ok && o.Final() {
		return o
	}
	if o, err := s.store.Order(ctx, pending.ID); err == nil {
		return o
	}
	return pending
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
	o, known := s.cache.Order(id)
	if !known || !o.Final() {
		switch db, err := s.store.Order(ctx, id); {
		case err == nil:
			o, known = db, true
		case !errors.Is(err, store.ErrNotFound):
			s.fail(c, err)
			return
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

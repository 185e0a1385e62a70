package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"golang.org/x/text/currency"

	"github.com/orderq/orderq/api-gateway/internal/store"
	"github.com/orderq/orderq/shared/items"
	"github.com/orderq/orderq/shared/message"
)

// Bounds of item fields.
const (
	maxNameLen        = 200
	maxStock          = 1_000_000_000
	maxPerCustomerCap = 1_000_000
	maxPrice          = 1_000_000_000_000 // minor units
	maxListLimit      = 500
	defaultListLimit  = 100
	// stockWait is how long a stock change or deletion waits to be applied.
	stockWait = 10 * time.Second
)

type createItemRequest struct {
	Name           *string `json:"name"`
	Stock          *int64  `json:"stock"`
	MaxPerCustomer *int    `json:"max_per_customer"`
	Price          *int64  `json:"price"`
	Currency       *string `json:"currency"`
}

func (r *createItemRequest) validate() error {
	if r.Name == nil {
		return invalid("name is required")
	}
	if err := validName(*r.Name); err != nil {
		return err
	}
	if r.Stock == nil {
		return invalid("stock is required")
	}
	if *r.Stock < 0 || *r.Stock > maxStock {
		return invalid("stock must be from 0 to %d", maxStock)
	}
	if err := validMaxPerCustomer(r.MaxPerCustomer); err != nil {
		return err
	}
	return validPrice(r.Price, r.Currency)
}

func validName(name string) error {
	if strings.TrimSpace(name) == "" || utf8.RuneCountInString(name) > maxNameLen {
		return invalid("name must be 1 to %d characters, not all blank", maxNameLen)
	}
	for _, r := range name {
		switch {
		case unicode.IsControl(r):
			return invalid("name must not contain control characters (U+%04X)", r)
		case bidiControl(r):
			// They reorder the text around them where it is shown: a name
			// could read as another, or scramble the page or sheet it is in.
			return invalid("name must not contain bidirectional embedding, override or isolate characters (U+%04X)", r)
		}
	}
	return nil
}

// bidiControl reports whether r is a bidirectional embedding, override or
// isolate character: U+202A–U+202E, U+2066–U+2069.
func bidiControl(r rune) bool {
	return (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069')
}

// validPrice checks a price and its currency, each when given.
func validPrice(price *int64, cur *string) error {
	if price != nil && (*price < 0 || *price > maxPrice) {
		return invalid("price must be a whole number of minor units from 0 to %d", int64(maxPrice))
	}
	if cur != nil {
		return validCurrency("currency", *cur)
	}
	return nil
}

// validCurrency checks an ISO 4217 currency code, written as its three
// upper-case letters.
func validCurrency(field, code string) error {
	if len(code) != 3 || strings.ToUpper(code) != code {
		return invalid("%s must be an ISO 4217 code of three upper-case letters, such as IDR", field)
	}
	// XXX is the code for "no currency": nothing can be priced in it.
	if unit, err := currency.ParseISO(code); err != nil || unit == (currency.Unit{}) {
		return invalid("%s %q is not an ISO 4217 currency code", field, code)
	}
	return nil
}

func validMaxPerCustomer(v *int) error {
	if v != nil && (*v < 0 || *v > maxPerCustomerCap) {
		return invalid("max_per_customer must be from 0 (no limit) to %d", maxPerCustomerCap)
	}
	return nil
}

func (s *Server) createItem(c *gin.Context) {
	var req createItemRequest
	if err := decode(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if err := req.validate(); err != nil {
		s.fail(c, err)
		return
	}
	it := store.NewItem{Name: *req.Name, Stock: *req.Stock, Currency: items.DefaultCurrency}
	if req.MaxPerCustomer != nil {
		it.MaxPerCustomer = *req.MaxPerCustomer
	}
	if req.Price != nil {
		it.Price = *req.Price
	}
	if req.Currency != nil {
		it.Currency = *req.Currency
	}
	item, err := s.store.CreateItem(c.Request.Context(), it)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", "/api/v1/items/"+strconv.FormatInt(item.ID, 10))
	c.JSON(http.StatusCreated, item)
}

func (s *Server) getItem(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	item, err := s.store.Item(c.Request.Context(), id)
	if err != nil {
		s.fail(c, itemErr(err))
		return
	}
	c.JSON(http.StatusOK, item)
}

type itemList struct {
	Items       []message.Item `json:"items"`
	NextAfterID *int64         `json:"next_after_id"`
}

func (s *Server) listItems(c *gin.Context) {
	afterID := int64(0)
	limit, err := queryLimit(c, defaultListLimit, maxListLimit)
	if err != nil {
		s.fail(c, err)
		return
	}
	if v := c.Query("after_id"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			s.fail(c, invalid("after_id must be a whole number, 0 or more"))
			return
		}
		afterID = n
	}
	items, err := s.store.Items(c.Request.Context(), afterID, limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	list := itemList{Items: items}
	if len(items) == limit {
		list.NextAfterID = &items[len(items)-1].ID
	}
	c.JSON(http.StatusOK, list)
}

type updateItemRequest struct {
	Name           *string `json:"name"`
	MaxPerCustomer *int    `json:"max_per_customer"`
	Price          *int64  `json:"price"`
	Currency       *string `json:"currency"`
	Stock          any     `json:"stock"`
}

func (s *Server) updateItem(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var req updateItemRequest
	if err := decode(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	switch {
	case req.Stock != nil:
		err = invalid("stock cannot be patched: change it with POST /api/v1/items/%d/stock, which goes through the item's queue", id)
	case req.Name == nil && req.MaxPerCustomer == nil && req.Price == nil && req.Currency == nil:
		err = invalid("nothing to change: send name, max_per_customer, price or currency")
	case req.Name != nil:
		err = validName(*req.Name)
	}
	if err == nil {
		err = validMaxPerCustomer(req.MaxPerCustomer)
	}
	if err == nil {
		err = validPrice(req.Price, req.Currency)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	item, err := s.store.UpdateItem(c.Request.Context(), id, store.ItemPatch{Name: req.Name, MaxPerCustomer: req.MaxPerCustomer,
		Price: req.Price, Currency: req.Currency})
	if err != nil {
		s.fail(c, itemErr(err))
		return
	}
	c.JSON(http.StatusOK, item)
}

type stockRequest struct {
	Delta *int64 `json:"delta"`
	Set   *int64 `json:"set"`
}

func (r *stockRequest) validate() error {
	switch {
	case (r.Delta == nil) == (r.Set == nil):
		return invalid("send exactly one of delta and set")
	case r.Delta != nil && (*r.Delta == 0 || *r.Delta < -maxStock || *r.Delta > maxStock):
		return invalid("delta must be a non-zero whole number from %d to %d", -maxStock, maxStock)
	case r.Set != nil && (*r.Set < 0 || *r.Set > maxStock):
		return invalid("set must be from 0 to %d", maxStock)
	}
	return nil
}

// pendingCommand is the answer to a stock change or deletion not applied within
// the wait: it is queued and will be.
type pendingCommand struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

func (s *Server) changeStock(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var req stockRequest
	if err := decode(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if err := req.validate(); err != nil {
		s.fail(c, err)
		return
	}
	cmd := message.Command{Kind: message.KindStock, ID: uuid.NewString(), ItemID: id, Delta: req.Delta, Set: req.Set}
	res, done, err := s.command(c.Request.Context(), cmd)
	switch {
	case err != nil:
		s.fail(c, err)
	case !done:
		c.JSON(http.StatusAccepted, pendingCommand{ID: cmd.ID, Status: "pending"})
	case res.Error == message.ErrCodeInsufficientStock:
		s.fail(c, newError(http.StatusConflict, "insufficient_stock", "the change would take the stock below zero"))
	case res.Error != "" || res.Item == nil:
		s.fail(c, notFound("item"))
	default:
		c.JSON(http.StatusOK, res.Item)
	}
}

func (s *Server) deleteItem(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	cmd := message.Command{Kind: message.KindDeleteItem, ID: uuid.NewString(), ItemID: id}
	res, done, err := s.command(c.Request.Context(), cmd)
	switch {
	case err != nil:
		s.fail(c, err)
	case done && res.Error != "":
		s.fail(c, notFound("item"))
	default:
		// Queued behind every order already accepted for the item, and ahead of
		// every later one: from here on its orders end item_not_found.
		s.store.ItemGone(id)
		c.Status(http.StatusNoContent)
	}
}

// command publishes a stock change or deletion for a live item and waits up to
// stockWait for the worker to apply it. done is false when it is queued but not
// applied yet.
func (s *Server) command(ctx context.Context, cmd message.Command) (res message.Result, done bool, err error) {
	if _, err := s.store.Item(ctx, cmd.ItemID); err != nil {
		return res, false, itemErr(err)
	}
	cmd.AcceptedAt = time.Now().UTC()
	if err := s.intake.Submit(ctx, cmd); err != nil {
		return res, false, err
	}
	res, done = s.cache.Wait(ctx, cmd.ID, stockWait, time.Second, nil)
	return res, done, nil
}

// Package gatewaytest serves an in-memory fake of the gateway's HTTP contract,
// for tests of the load tester. By default it is correct: one goroutine decides
// the orders in arrival order, as orderq's worker does, and a cart (an order
// with lines) all or nothing. Options break it on purpose, so tests can prove
// the checker notices.
//
// It checks credentials as the gateway does: a customer's HS256 token
// (JWTSecret) makes its sub the customer, and a body naming another is 403;
// a storefront's X-API-Key (APIKey) must name the customer in the body; an
// order without a credential is 401, unless AuthOff. A customer reading
// another's order gets 404.
package gatewaytest

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/orderstatus"
)

// APIVersion is the info.version of the fake's /openapi.json.
const APIVersion = "0.0.0-gatewaytest"

// Defaults of the credentials the fake accepts.
const (
	AdminToken = "secret"
	APIKey     = "storefront-key-of-at-least-32-bytes"
	JWTSecret  = "customer-token-secret-of-32-bytes-or-more"
)

// Options choose the fake's behaviour.
type Options struct {
	Token     string // admin token; default AdminToken
	APIKey    string // the storefront's key; default APIKey
	JWTSecret string // the customer tokens' HS256 key; default JWTSecret
	// Issuer and Audience, when set, are required of customer tokens.
	Issuer, Audience string
	// AuthOff takes a request without a credential for a storefront, as the
	// gateway does with AUTH=off.
	AuthOff bool
	// Delay is how old an order is before it is decided, so that short waits see
	// it pending.
	Delay time.Duration
	// FailEvery > 0 answers every n-th order request 503 after taking the order,
	// as a gateway does when a publish confirm is lost: only a retry with the same
	// Idempotency-Key tells the client its order.
	FailEvery int
	Oversell  bool // confirm every order, stock or not
	Hold      bool // never decide an order
	Forget    bool // answer every order 404 item_not_found, as if the item did not exist
	// Leak keeps, of a rejected cart, the units its lines before the failing
	// one took: the release a rejected cart owes never comes.
	Leak bool
	// LoseEvery > 0 forgets every n-th confirmed order once it was answered
	// confirmed: a later read of it is 404, as of an order a store lost.
	LoseEvery int
}

// Server is a running fake gateway.
type Server struct {
	*httptest.Server
	opts Options

	mu     sync.Mutex
	items  map[int64]*item
	orders map[string]*order
	keys   map[string]idempotency
	posts  int
	// confirmations counts the orders confirmed, for LoseEvery.
	confirmations int
	// auths counts the order requests by the role that sent them, and
	// tokens the distinct tokens each customer sent.
	auths  map[role]int
	tokens map[string]map[string]bool

	queue chan *order
	stop  chan struct{}
	done  chan struct{}
}

type item struct {
	ID             int64  `json:"id"`
	Name           string `json:"name"`
	Stock          int64  `json:"stock"`
	MaxPerCustomer int    `json:"max_per_customer"`
	CreatedAt      string `json:"created_at"`
	UpdatedAt      string `json:"updated_at"`

	held map[string]int // confirmed quantity by customer
}

// order is an order the fake took: the contract's document, as the decider
// keeps it (a single-item order without lines, a cart with them), and what
// the decider needs besides.
type order struct {
	message.Order

	created time.Time
	decided chan struct{}
	// lose marks an order LoseEvery forgets once answered, and answered
	// that it was answered final.
	lose, answered bool
}

// lineRequest is a line of a cart's request.
type lineRequest struct {
	ItemID   int64 `json:"item_id"`
	Quantity int   `json:"quantity"`
}

// singleLine is the status of a single-item order's one line, by the
// order's status.
var singleLine = map[orderstatus.Status]orderstatus.LineStatus{
	orderstatus.Pending:   orderstatus.LinePending,
	orderstatus.Confirmed: orderstatus.Reserved,
	orderstatus.Rejected:  orderstatus.LineRejected,
}

// view is o as the contract answers it: a single-item order with its one
// line, and the display status of its status and its lines', labelled in
// English. It is a copy: the decider changes o's lines after the lock is
// released.
func (o *order) view() message.Order {
	v := o.Order
	v.Lines = slices.Clone(o.Lines)
	if v.Lines == nil {
		v.Lines = []message.OrderLine{{ItemID: o.ItemID, Quantity: o.Quantity, Status: singleLine[o.Status], Reason: o.Reason}}
	}
	statuses := make([]orderstatus.LineStatus, len(v.Lines))
	for i, l := range v.Lines {
		statuses[i] = l.Status
	}
	code := orderstatus.Code(v.Status, statuses)
	v.DisplayStatus = orderstatus.Display{Code: code, Label: orderstatus.Label(code, "en")}
	return v
}

type idempotency struct {
	body    [32]byte
	orderID string
}

// New starts a fake gateway that stops when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Token == "" {
		opts.Token = AdminToken
	}
	if opts.APIKey == "" {
		opts.APIKey = APIKey
	}
	if opts.JWTSecret == "" {
		opts.JWTSecret = JWTSecret
	}
	s := &Server{
		opts:   opts,
		items:  map[int64]*item{},
		orders: map[string]*order{},
		keys:   map[string]idempotency{},
		auths:  map[role]int{},
		tokens: map[string]map[string]bool{},
		queue:  make(chan *order, 1<<16),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/items", s.createItem)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"openapi": "3.0.3", "info": map[string]string{"title": "orderq (fake)", "version": APIVersion}})
	})
	mux.HandleFunc("GET /api/v1/items", s.listItems)
	mux.HandleFunc("GET /api/v1/items/{id}", s.getItem)
	mux.HandleFunc("POST /api/v1/orders", s.placeOrder)
	mux.HandleFunc("GET /api/v1/orders/{id}", s.getOrder)
	s.Server = httptest.NewServer(mux)
	go s.decide()
	t.Cleanup(func() {
		close(s.stop) // releases long-polls first, or Close would wait for them
		s.Server.Close()
		<-s.done
	})
	return s
}

// Orders returns how many distinct orders the fake took.
func (s *Server) Orders() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.orders)
}

// Auths returns how many order requests (placing or reading) each kind of
// caller sent: "customer", "storefront", "admin", or "anonymous" (AuthOff).
func (s *Server) Auths() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]int{}
	for r, n := range s.auths {
		m[r.String()] = n
	}
	return m
}

// Tokens returns, by customer, how many distinct tokens they sent.
func (s *Server) Tokens() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]int{}
	for sub, ts := range s.tokens {
		m[sub] = len(ts)
	}
	return m
}

// role is what kind of caller a request comes from.
type role int

const (
	anonymous role = iota
	customer
	storefront
	admin
)

func (r role) String() string {
	return [...]string{"anonymous", "customer", "storefront", "admin"}[r]
}

// caller is who sent a request: a customer has their id.
type caller struct {
	role     role
	customer string
}

var errCredential = errors.New("invalid credential")

// identify tells who sent r, as the gateway does; a credential that is not
// valid is an error.
func (s *Server) identify(r *http.Request) (caller, error) {
	authz, key := r.Header.Get("Authorization"), r.Header.Get("X-API-Key")
	switch {
	case authz != "" && key != "":
		return caller{}, fmt.Errorf("%w: send Authorization or X-API-Key, not both", errCredential)
	case key != "":
		if key != s.opts.APIKey {
			return caller{}, fmt.Errorf("%w: unknown API key", errCredential)
		}
		return caller{role: storefront}, nil
	case authz == "":
		if s.opts.AuthOff {
			return caller{role: storefront}, nil
		}
		return caller{role: anonymous}, nil
	}
	tok, ok := strings.CutPrefix(authz, "Bearer ")
	if !ok || tok == "" {
		return caller{}, fmt.Errorf("%w: want Authorization: Bearer <token>", errCredential)
	}
	if tok == s.opts.Token {
		return caller{role: admin}, nil
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt()}
	if s.opts.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(s.opts.Issuer))
	}
	if s.opts.Audience != "" {
		opts = append(opts, jwt.WithAudience(s.opts.Audience))
	}
	var c jwt.RegisteredClaims
	if _, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return []byte(s.opts.JWTSecret), nil }, opts...); err != nil {
		return caller{}, fmt.Errorf("%w: %v", errCredential, err)
	}
	if c.Subject == "" || len(c.Subject) > 64 {
		return caller{}, fmt.Errorf("%w: sub must be 1…64 characters", errCredential)
	}
	s.mu.Lock()
	if s.tokens[c.Subject] == nil {
		s.tokens[c.Subject] = map[string]bool{}
	}
	s.tokens[c.Subject][tok] = true
	s.mu.Unlock()
	return caller{role: customer, customer: c.Subject}, nil
}

// orderCaller identifies the caller of an order request and counts it; it
// answers 401 itself, and returns false then.
func (s *Server) orderCaller(w http.ResponseWriter, r *http.Request) (caller, bool) {
	c, err := s.identify(r)
	if err == nil && c.role == anonymous {
		err = errors.New("a credential is required: a customer token or a storefront's X-API-Key")
	}
	if err != nil {
		unauthorized(w, err.Error())
		return caller{}, false
	}
	s.mu.Lock()
	s.auths[c.role]++
	s.mu.Unlock()
	return c, true
}

func unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="orderq"`)
	writeError(w, http.StatusUnauthorized, "unauthorized", msg)
}

// decide is the single writer: it decides orders one at a time, in the order
// they arrived.
func (s *Server) decide() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		case o := <-s.queue:
			if s.opts.Hold {
				continue
			}
			if !sleepUntil(o.created.Add(s.opts.Delay), s.stop) {
				return
			}
			s.mu.Lock()
			s.apply(o)
			s.mu.Unlock()
			close(o.decided)
		}
	}
}

func (s *Server) apply(o *order) {
	now := timestamp()
	o.ProcessedAt, o.UpdatedAt = &now, now
	if o.Lines != nil {
		s.applyCart(o)
		return
	}
	it, ok := s.items[o.ItemID]
	reject := func(reason string) { o.Status, o.Reason = orderstatus.Rejected, &reason }
	switch {
	case !ok:
		reject(message.ReasonItemNotFound)
	case !s.opts.Oversell && it.Stock < int64(o.Quantity):
		reject(message.ReasonOutOfStock)
	case !s.opts.Oversell && it.MaxPerCustomer > 0 && it.held[o.CustomerID]+o.Quantity > it.MaxPerCustomer:
		reject(message.ReasonLimitExceeded)
	default:
		o.Status = orderstatus.Confirmed
		it.Stock -= int64(o.Quantity)
		it.held[o.CustomerID] += o.Quantity
		s.confirmations++
		o.lose = s.opts.LoseEvery > 0 && s.confirmations%s.opts.LoseEvery == 0
	}
}

// applyCart decides a cart all or nothing: each line in turn takes its units,
// and the first that cannot rejects the cart and gives back what the others
// took (unless Leak).
func (s *Server) applyCart(o *order) {
	failed, reason := -1, ""
	for i := range o.Lines {
		l := &o.Lines[i]
		it, ok := s.items[l.ItemID]
		switch {
		case !ok:
			reason = message.ReasonItemNotFound
		case !s.opts.Oversell && it.Stock < int64(l.Quantity):
			reason = message.ReasonOutOfStock
		case !s.opts.Oversell && it.MaxPerCustomer > 0 && it.held[o.CustomerID]+l.Quantity > it.MaxPerCustomer:
			reason = message.ReasonLimitExceeded
		default:
			l.Status = orderstatus.Reserved
			it.Stock -= int64(l.Quantity)
			it.held[o.CustomerID] += l.Quantity
			continue
		}
		failed = i
		break
	}
	if failed < 0 {
		o.Status = orderstatus.Confirmed
		return
	}
	o.Status, o.Reason = orderstatus.Rejected, &reason
	o.Lines[failed].Reason = &reason
	for i := range o.Lines {
		l := &o.Lines[i]
		if l.Status != orderstatus.Reserved {
			l.Status = orderstatus.LineRejected // it never held stock
			continue
		}
		if !s.opts.Leak {
			it := s.items[l.ItemID]
			it.Stock += int64(l.Quantity)
			it.held[o.CustomerID] -= l.Quantity
		}
		l.Status = orderstatus.Released
	}
}

func (s *Server) createItem(w http.ResponseWriter, r *http.Request) {
	switch c, err := s.identify(r); {
	case err != nil || c.role == anonymous:
		unauthorized(w, "a valid admin token is required")
		return
	case c.role != admin:
		writeError(w, http.StatusForbidden, "forbidden", "only the admin may create items")
		return
	}
	var in struct {
		Name           string `json:"name"`
		Stock          int64  `json:"stock"`
		MaxPerCustomer int    `json:"max_per_customer"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_json", err.Error())
		return
	}
	if in.Name == "" || in.Stock < 0 || in.MaxPerCustomer < 0 {
		writeError(w, http.StatusUnprocessableEntity, "validation_failed", "name, stock or max_per_customer is invalid")
		return
	}
	s.mu.Lock()
	now := timestamp().Format(time.RFC3339)
	it := &item{ID: int64(len(s.items) + 1), Name: in.Name, Stock: in.Stock, MaxPerCustomer: in.MaxPerCustomer,
		CreatedAt: now, UpdatedAt: now, held: map[string]int{}}
	s.items[it.ID] = it
	snap := *it
	s.mu.Unlock()
	w.Header().Set("Location", fmt.Sprintf("/api/v1/items/%d", it.ID))
	writeJSON(w, http.StatusCreated, snap)
}

func (s *Server) getItem(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	s.mu.Lock()
	it, ok := s.items[id]
	var snap item
	if ok {
		snap = *it
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "item_not_found", "no such item")
		return
	}
	writeJSON(w, http.StatusOK, snap)
}

func (s *Server) listItems(w http.ResponseWriter, r *http.Request) {
	after, _ := strconv.ParseInt(r.URL.Query().Get("after_id"), 10, 64)
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || limit < 1 || limit > 500 {
		limit = 100
	}
	s.mu.Lock()
	page := []item{}
	// Ids are 1…len(items), never reused.
	for id := after + 1; id <= int64(len(s.items)) && len(page) < limit; id++ {
		page = append(page, *s.items[id])
	}
	s.mu.Unlock()
	var next *int64
	if len(page) == limit {
		next = &page[len(page)-1].ID
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": page, "next_after_id": next})
}

func (s *Server) placeOrder(w http.ResponseWriter, r *http.Request) {
	who, ok := s.orderCaller(w, r)
	if !ok {
		return
	}
	var in struct {
		ItemID     int64         `json:"item_id"`
		Quantity   int           `json:"quantity"`
		CustomerID string        `json:"customer_id"`
		Lines      []lineRequest `json:"lines"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_json", err.Error())
		return
	}
	if who.role == customer {
		if in.CustomerID != "" && in.CustomerID != who.customer {
			writeError(w, http.StatusForbidden, "forbidden", "a customer orders for themselves only")
			return
		}
		in.CustomerID = who.customer
	}
	if msg := validOrder(in.ItemID, in.Quantity, in.CustomerID, in.Lines); msg != "" {
		writeError(w, http.StatusUnprocessableEntity, "validation_failed", msg)
		return
	}
	body := sha256.Sum256(fmt.Appendf(nil, "%d/%d/%s/%v", in.ItemID, in.Quantity, in.CustomerID, in.Lines))
	key := r.Header.Get("Idempotency-Key")

	s.mu.Lock()
	ids := []int64{in.ItemID}
	if in.Lines != nil {
		ids = ids[:0]
		for _, l := range in.Lines {
			ids = append(ids, l.ItemID)
		}
	}
	for _, id := range ids {
		if _, ok := s.items[id]; !ok || s.opts.Forget {
			s.mu.Unlock()
			writeError(w, http.StatusNotFound, "item_not_found", "no such item")
			return
		}
	}
	var o *order
	if k, ok := s.keys[key]; ok && key != "" {
		if k.body != body {
			s.mu.Unlock()
			writeError(w, http.StatusUnprocessableEntity, "idempotency_key_reused", "the key was used with another body")
			return
		}
		o = s.orders[k.orderID]
	} else {
		now := timestamp()
		o = &order{Order: message.Order{ID: uuid.NewString(), ItemID: in.ItemID, Quantity: in.Quantity, CustomerID: in.CustomerID,
			Status: orderstatus.Pending, CreatedAt: now, UpdatedAt: now}, created: time.Now(), decided: make(chan struct{})}
		for _, l := range in.Lines {
			o.Lines = append(o.Lines, message.OrderLine{ItemID: l.ItemID, Quantity: l.Quantity, Status: orderstatus.LinePending})
		}
		s.orders[o.ID] = o
		if key != "" {
			s.keys[key] = idempotency{body: body, orderID: o.ID}
		}
		s.queue <- o
		s.posts++
		if s.opts.FailEvery > 0 && s.posts%s.opts.FailEvery == 0 {
			s.mu.Unlock()
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "unavailable", "the broker did not confirm in time")
			return
		}
	}
	s.mu.Unlock()

	wait, _ := strconv.Atoi(strings.TrimPrefix(r.Header.Get("Prefer"), "wait="))
	snap, final := s.await(r, o, wait)
	w.Header().Set("Location", "/api/v1/orders/"+o.ID)
	if final {
		writeJSON(w, http.StatusOK, snap)
		return
	}
	writeJSON(w, http.StatusAccepted, snap)
}

// validOrder checks a single-item order (item_id, quantity) or a cart
// (lines), as the contract does, and says what is wrong; "" when nothing.
func validOrder(itemID int64, quantity int, customer string, lines []lineRequest) string {
	switch {
	case customer == "" || len(customer) > 64:
		return "customer_id must be 1…64 characters"
	case lines == nil && (quantity < 1 || quantity > 1000):
		return "quantity must be within 1…1000"
	case lines != nil && (itemID != 0 || quantity != 0):
		return "send item_id and quantity, or lines, not both"
	case lines != nil && (len(lines) < 1 || len(lines) > 50):
		return "lines must hold 1 to 50 lines"
	}
	seen := map[int64]bool{}
	for i, l := range lines {
		switch {
		case l.Quantity < 1 || l.Quantity > 1000:
			return fmt.Sprintf("lines[%d].quantity must be within 1…1000", i)
		case seen[l.ItemID]:
			return fmt.Sprintf("lines[%d].item_id: item %d is already in the order", i, l.ItemID)
		}
		seen[l.ItemID] = true
	}
	return ""
}

func (s *Server) getOrder(w http.ResponseWriter, r *http.Request) {
	who, ok := s.orderCaller(w, r)
	if !ok {
		return
	}
	if _, err := uuid.Parse(r.PathValue("id")); err != nil {
		writeError(w, http.StatusBadRequest, "validation_failed", "id: not an order id")
		return
	}
	s.mu.Lock()
	o, ok := s.orders[r.PathValue("id")]
	// Another customer's order is not there for this one, nor one lost.
	ok = ok && (who.role != customer || o.CustomerID == who.customer) && !(o.lose && o.answered)
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "order_not_found", "no such order")
		return
	}
	wait, _ := strconv.Atoi(r.URL.Query().Get("wait"))
	snap, _ := s.await(r, o, wait)
	writeJSON(w, http.StatusOK, snap)
}

// await waits up to wait seconds for o to be decided and returns it as
// answered.
func (s *Server) await(r *http.Request, o *order, wait int) (message.Order, bool) {
	if wait > 0 {
		t := time.NewTimer(time.Duration(min(wait, 30)) * time.Second)
		defer t.Stop()
		select {
		case <-o.decided:
		case <-t.C:
		case <-r.Context().Done():
		case <-s.stop:
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	final := o.Status != orderstatus.Pending
	o.answered = o.answered || final
	return o.view(), final
}

func sleepUntil(at time.Time, stop <-chan struct{}) bool {
	d := time.Until(at)
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	}
}

// timestamp is now, to the second as the fake's times are.
func timestamp() time.Time { return time.Now().UTC().Truncate(time.Second) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

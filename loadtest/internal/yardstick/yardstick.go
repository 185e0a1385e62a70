// Package yardstick serves the stock strategies orderq is measured against by
// `loadtest compare`: small gin services that speak the part of the gateway's
// HTTP contract the crowd uses, each deciding an order synchronously the way
// shops commonly do it, and answering 200 with the final order.
//
//   - naive reads the stock, and writes back the value it read minus the
//     quantity, with no transaction: the lost-update bug of the 12.12 sale.
//   - forupdate is the usual fix: one transaction per order that locks the
//     item's row with SELECT … FOR UPDATE.
//   - atomic is one conditional UPDATE … WHERE stock >= ? per order.
//   - redis is the design most flash-sale systems use: the stock is
//     pre-deducted in Redis by a Lua script, and a writer takes the orders to
//     MySQL afterwards (redis.go says how closely it follows that design).
//     Correct while Redis lives; a Redis that restarts empty loses the orders
//     not yet written, and the stock reloaded from MySQL sells their units
//     again.
//
// They are yardsticks for the comparison only, never product endpoints: the
// naive one is wrong on purpose, and none enforces max_per_customer.
package yardstick

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-sql-driver/mysql"
	"github.com/google/uuid"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/orderstatus"
)

// The strategies.
const (
	Naive     = "naive"
	ForUpdate = "forupdate"
	Atomic    = "atomic"
	Redis     = "redis"
)

// Strategies lists them in the order a comparison runs them.
var Strategies = []string{Naive, ForUpdate, Atomic, Redis}

// About describes each strategy in a phrase, for reports.
var About = map[string]string{
	Naive:     "SELECT stock, then UPDATE to the value read minus the quantity, no transaction",
	ForUpdate: "one transaction per order: SELECT … FOR UPDATE, UPDATE, INSERT",
	Atomic:    "one conditional UPDATE … WHERE stock >= ? per order, then INSERT",
	Redis:     "stock pre-deducted in Redis by a Lua script, orders written to MySQL afterwards in batches",
}

// DefaultWindow is the naive strategy's pause between its read and its write.
// The race it loses exists without it, but how often a short run hits it
// depends on the machine; a millisecond makes concurrent orders overlap on
// any machine, so the bug shows every time it is looked for.
const DefaultWindow = time.Millisecond

// Options configure one server.
type Options struct {
	Strategy string
	DSN      string        // its database; the tables are created if missing
	Pool     int           // most database connections; default 32
	Window   time.Duration // naive only: pause between read and write; 0 none
	// RedisURL is the redis strategy's Redis (required for it); the server's
	// keys there carry a prefix of its own, and are removed by Close.
	RedisURL string
	// WriteEvery is how often the redis strategy's writer takes the orders
	// Redis holds to MySQL; 0 is DefaultWriteEvery.
	WriteEvery time.Duration
	Log        *slog.Logger // default discards
}

// Server is a running yardstick on a free port of 127.0.0.1.
type Server struct {
	URL string // http://127.0.0.1:port

	db    *sql.DB
	redis *redisStock // of the redis strategy; nil for the others
	srv   *http.Server
	done  chan error
}

// Start opens the database, creates the schema and serves the strategy until
// Close.
func Start(ctx context.Context, o Options) (*Server, error) {
	decide, ok := map[string]decider{Naive: naive(o.Window), ForUpdate: forUpdate, Atomic: atomicUpdate, Redis: nil}[o.Strategy]
	switch {
	case !ok:
		return nil, fmt.Errorf("unknown strategy %q", o.Strategy)
	case o.Strategy == Redis && o.RedisURL == "":
		return nil, errors.New("the redis strategy needs a Redis URL")
	case o.WriteEvery < 0:
		return nil, errors.New("the redis writer's interval must be positive")
	}
	if o.Pool <= 0 {
		o.Pool = 32
	}
	if o.WriteEvery == 0 {
		o.WriteEvery = DefaultWriteEvery
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	log := o.Log.With("strategy", o.Strategy)
	db, err := open(ctx, o.DSN, o.Pool)
	if err != nil {
		return nil, err
	}
	for _, q := range schema {
		if _, err := db.ExecContext(ctx, q); err != nil {
			db.Close()
			return nil, fmt.Errorf("create schema: %w", err)
		}
	}
	h := &handler{db: db, decide: decide, log: log}
	if o.Strategy == Redis {
		if h.redis, err = openRedis(ctx, o.RedisURL, o.Pool, o.WriteEvery, db, log); err != nil {
			db.Close()
			return nil, err
		}
		h.decide = h.redis.decide
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		if h.redis != nil {
			h.redis.close(ctx)
		}
		db.Close()
		return nil, fmt.Errorf("listen: %w", err)
	}
	s := &Server{
		URL:   "http://" + ln.Addr().String(),
		db:    db,
		redis: h.redis,
		srv: &http.Server{
			Handler:           h.routes(),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       time.Minute,
		},
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Close stops serving, waiting for requests in progress until ctx ends; the
// redis strategy's writer then writes what Redis still holds, within ctx.
// Then it closes the database.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if s.redis != nil {
		if rerr := s.redis.close(ctx); err == nil {
			err = rerr
		}
	}
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	return err
}

func open(ctx context.Context, dsn string, pool int) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse mysql dsn: %w", err)
	}
	cfg.ParseTime = true
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql dsn: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(pool)
	db.SetMaxIdleConns(pool)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to mysql at %s: %w", cfg.Addr, err)
	}
	return db, nil
}

// schema is each yardstick's own, minimal: no ledger, no constraint on stock,
// nothing but what its strategy needs.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS items (
		id    BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
		name  VARCHAR(200) NOT NULL,
		stock BIGINT       NOT NULL
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE IF NOT EXISTS orders (
		id          CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
		item_id     BIGINT      NOT NULL,
		quantity    INT         NOT NULL,
		customer_id VARCHAR(64) NOT NULL,
		status      VARCHAR(16) CHARACTER SET ascii NOT NULL,
		reason      VARCHAR(32) CHARACTER SET ascii NULL,
		created_at  DATETIME(6) NOT NULL
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
}

// Database names a fresh database for a strategy's run.
func Database(strategy string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return "orderq_compare_" + strategy + "_" + hex.EncodeToString(b)
}

// CreateDatabase creates the database name on the server of dsn and returns
// a DSN for it and a function that drops it.
func CreateDatabase(ctx context.Context, dsn, name string) (string, func(context.Context) error, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "", nil, fmt.Errorf("parse mysql dsn: %w", err)
	}
	cfg.DBName = ""
	server, err := open(ctx, cfg.FormatDSN(), 1)
	if err != nil {
		return "", nil, err
	}
	if _, err := server.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4"); err != nil {
		server.Close()
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	drop := func(ctx context.Context) error {
		defer server.Close()
		if _, err := server.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	}
	cfg.DBName = name
	return cfg.FormatDSN(), drop, nil
}

// decider places one order: it decides it, changes the stock, and stores
// it, returning the stored order. An order whose id is stored already is not
// placed again: errDuplicate, and the caller answers the stored one.
type decider func(ctx context.Context, db *sql.DB, o *order) error

var (
	errNoItem    = errors.New("item not found")
	errDuplicate = errors.New("order exists")
	errNotFound  = errors.New("order not found")
)

// naive is the read-modify-write the flash sale went wrong with: between its
// read and its write another order reads the same stock, and the later write
// wins, so decrements are lost and more is sold than there was.
func naive(window time.Duration) decider {
	return func(ctx context.Context, db *sql.DB, o *order) error {
		var stock int64
		err := db.QueryRowContext(ctx, `SELECT stock FROM items WHERE id = ?`, o.ItemID).Scan(&stock)
		if errors.Is(err, sql.ErrNoRows) {
			return errNoItem
		}
		if err != nil {
			return err
		}
		if stock < int64(o.Quantity) {
			o.reject(message.ReasonOutOfStock)
			return insert(ctx, db, o)
		}
		if window > 0 {
			time.Sleep(window) // the yardstick's way to show the race on any machine
		}
		if _, err := db.ExecContext(ctx, `UPDATE items SET stock = ? WHERE id = ?`, stock-int64(o.Quantity), o.ItemID); err != nil {
			return err
		}
		o.Status = orderstatus.Confirmed
		if err := insert(ctx, db, o); err != nil {
			if errors.Is(err, errDuplicate) {
				// A retry of an order already placed: give back what it took.
				_, uerr := db.ExecContext(ctx, `UPDATE items SET stock = stock + ? WHERE id = ?`, o.Quantity, o.ItemID)
				return errors.Join(err, uerr)
			}
			return err
		}
		return nil
	}
}

// forUpdate locks the item's row for the whole transaction: correct, and
// every order of the item waits for the one before it to commit.
func forUpdate(ctx context.Context, db *sql.DB, o *order) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var stock int64
	err = tx.QueryRowContext(ctx, `SELECT stock FROM items WHERE id = ? FOR UPDATE`, o.ItemID).Scan(&stock)
	if errors.Is(err, sql.ErrNoRows) {
		return errNoItem
	}
	if err != nil {
		return err
	}
	if stock >= int64(o.Quantity) {
		if _, err := tx.ExecContext(ctx, `UPDATE items SET stock = stock - ? WHERE id = ?`, o.Quantity, o.ItemID); err != nil {
			return err
		}
		o.Status = orderstatus.Confirmed
	} else {
		o.reject(message.ReasonOutOfStock)
	}
	if err := insert(ctx, tx, o); err != nil {
		return err // a duplicate rolls the decrement back with the rest
	}
	return tx.Commit()
}

// atomicUpdate lets the database decide in one statement; the row is locked
// only while it runs.
func atomicUpdate(ctx context.Context, db *sql.DB, o *order) error {
	res, err := db.ExecContext(ctx, `UPDATE items SET stock = stock - ? WHERE id = ? AND stock >= ?`,
		o.Quantity, o.ItemID, o.Quantity)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 1 {
		o.Status = orderstatus.Confirmed
	} else {
		var one int
		err := db.QueryRowContext(ctx, `SELECT 1 FROM items WHERE id = ?`, o.ItemID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return errNoItem
		}
		if err != nil {
			return err
		}
		o.reject(message.ReasonOutOfStock)
	}
	if err := insert(ctx, db, o); err != nil {
		if errors.Is(err, errDuplicate) && n == 1 {
			_, uerr := db.ExecContext(ctx, `UPDATE items SET stock = stock + ? WHERE id = ?`, o.Quantity, o.ItemID)
			return errors.Join(err, uerr)
		}
		return err
	}
	return nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func insertItem(ctx context.Context, db execer, name string, stock int64) (int64, error) {
	res, err := db.ExecContext(ctx, `INSERT INTO items (name, stock) VALUES (?, ?)`, name, stock)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

func insert(ctx context.Context, db execer, o *order) error {
	_, err := db.ExecContext(ctx, `INSERT INTO orders (id, item_id, quantity, customer_id, status, reason, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, o.ID, o.ItemID, o.Quantity, o.CustomerID, string(o.Status), o.Reason, o.created)
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1062 { // ER_DUP_ENTRY
		return errDuplicate
	}
	return err
}

// order is an order a yardstick places or reads: the contract's order
// document, and when the order was created.
type order struct {
	message.Order
	created time.Time
}

func (o *order) reject(reason string) { o.Status, o.Reason = orderstatus.Rejected, &reason }

// document is o as the contract answers it, its display status labelled in
// lang. A yardstick's order is one line, decided with the order, and has no
// price: its total and currency stay null.
func (o *order) document(lang string) message.Order {
	d := o.Order
	at := o.created.UTC().Truncate(time.Second) // the answers' times are to the second
	d.CreatedAt, d.ProcessedAt, d.UpdatedAt = at, &at, at
	line := orderstatus.Reserved
	if d.Status == orderstatus.Rejected {
		line = orderstatus.LineRejected
	}
	d.Lines = []message.OrderLine{{ItemID: d.ItemID, Quantity: d.Quantity, Status: line, Reason: d.Reason}}
	code := orderstatus.Code(d.Status, []orderstatus.LineStatus{line})
	d.DisplayStatus = orderstatus.Display{Code: code, Label: orderstatus.Label(code, lang)}
	return d
}

// item is the contract's item document.
type item struct {
	ID             int64  `json:"id"`
	Name           string `json:"name"`
	Stock          int64  `json:"stock"`
	MaxPerCustomer int    `json:"max_per_customer"`
}

// idSpace names order ids derived from an Idempotency-Key, so that a retry of
// an order carries the id of the first attempt.
var idSpace = uuid.MustParse("6f0d3c4e-8a51-4d07-9b1e-3c2f1d5e7a90")

// maxBody is the contract's bound on a request body.
const maxBody = 64 << 10

type handler struct {
	db     *sql.DB
	decide decider
	redis  *redisStock // the redis strategy's; nil for the others
	log    *slog.Logger
}

var releaseMode sync.Once

func (h *handler) routes() http.Handler {
	// Debug mode would print every route to stdout, which carries --json.
	releaseMode.Do(func() { gin.SetMode(gin.ReleaseMode) })
	r := gin.New()
	r.Use(h.recover)
	api := r.Group("/api/v1")
	api.POST("/items", h.createItem)
	api.GET("/items/:id", h.getItem)
	api.POST("/orders", h.placeOrder)
	api.GET("/orders/:id", h.getOrder)
	r.NoRoute(func(c *gin.Context) { fail(c, http.StatusNotFound, "not_found", "no such route") })
	return r
}

// recover turns a panic into a 500, logged, so one bad request cannot end a
// comparison. (No request log: a line per order would be the yardstick's
// bottleneck.)
func (h *handler) recover(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			h.log.Error("panic", "path", c.Request.URL.Path, "err", v)
			fail(c, http.StatusInternalServerError, "internal", "internal error")
		}
	}()
	c.Next()
}

func (h *handler) createItem(c *gin.Context) {
	var in struct {
		Name           string `json:"name"`
		Stock          *int64 `json:"stock"`
		MaxPerCustomer int    `json:"max_per_customer"`
	}
	if !decode(c, &in) {
		return
	}
	switch {
	case in.Name == "" || len(in.Name) > 200:
		fail(c, http.StatusUnprocessableEntity, "validation_failed", "name must be 1 to 200 characters")
		return
	case in.Stock == nil || *in.Stock < 0:
		fail(c, http.StatusUnprocessableEntity, "validation_failed", "stock must be 0 or more")
		return
	case in.MaxPerCustomer != 0:
		fail(c, http.StatusUnprocessableEntity, "validation_failed", "max_per_customer: a yardstick enforces no limit, so it must be 0")
		return
	}
	var id int64
	var err error
	if h.redis != nil {
		id, err = h.redis.createItem(c.Request.Context(), in.Name, *in.Stock)
	} else {
		id, err = insertItem(c.Request.Context(), h.db, in.Name, *in.Stock)
	}
	if err != nil {
		h.internal(c, "create item", err)
		return
	}
	c.Header("Location", "/api/v1/items/"+strconv.FormatInt(id, 10))
	c.JSON(http.StatusCreated, item{ID: id, Name: in.Name, Stock: *in.Stock})
}

func (h *handler) getItem(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id < 1 {
		fail(c, http.StatusBadRequest, "validation_failed", "id: not an item id")
		return
	}
	if h.redis != nil {
		// MySQL is the system of record, once it holds every order.
		if err := h.redis.caughtUp(c.Request.Context()); err != nil {
			h.internal(c, "read item", err)
			return
		}
	}
	it := item{ID: id}
	err = h.db.QueryRowContext(c.Request.Context(), `SELECT name, stock FROM items WHERE id = ?`, id).Scan(&it.Name, &it.Stock)
	if errors.Is(err, sql.ErrNoRows) {
		fail(c, http.StatusNotFound, "item_not_found", "no such item")
		return
	}
	if err != nil {
		h.internal(c, "read item", err)
		return
	}
	c.JSON(http.StatusOK, it)
}

// placeOrder decides the order before it answers: 200 with the final order.
func (h *handler) placeOrder(c *gin.Context) {
	var in struct {
		ItemID     int64  `json:"item_id"`
		Quantity   *int   `json:"quantity"`
		CustomerID string `json:"customer_id"`
	}
	if !decode(c, &in) {
		return
	}
	qty := 1
	if in.Quantity != nil {
		qty = *in.Quantity
	}
	switch {
	case in.ItemID < 1:
		fail(c, http.StatusUnprocessableEntity, "validation_failed", "item_id must be 1 or more")
		return
	case qty < 1 || qty > 1000:
		fail(c, http.StatusUnprocessableEntity, "validation_failed", "quantity must be from 1 to 1000")
		return
	case in.CustomerID == "" || len(in.CustomerID) > 64:
		fail(c, http.StatusUnprocessableEntity, "validation_failed", "customer_id must be 1 to 64 characters")
		return
	}
	now := time.Now().UTC()
	o := &order{Order: message.Order{ItemID: in.ItemID, Quantity: qty, CustomerID: in.CustomerID}, created: now}
	if key := c.GetHeader("Idempotency-Key"); key != "" {
		o.ID = uuid.NewSHA1(idSpace, []byte(in.CustomerID+"\x00"+key)).String()
	} else {
		o.ID = uuid.NewString()
	}
	err := h.decide(c.Request.Context(), h.db, o)
	switch {
	case errors.Is(err, errNoItem):
		fail(c, http.StatusNotFound, "item_not_found", "no such item")
	case errors.Is(err, errDuplicate):
		h.answer(c, o.ID)
	case err != nil:
		h.internal(c, "place order", err)
	default:
		c.Header("Location", "/api/v1/orders/"+o.ID)
		c.JSON(http.StatusOK, o.document(lang(c)))
	}
}

func (h *handler) getOrder(c *gin.Context) {
	if _, err := uuid.Parse(c.Param("id")); err != nil {
		fail(c, http.StatusBadRequest, "validation_failed", "id: not an order id")
		return
	}
	h.answer(c, c.Param("id"))
}

// answer sends the stored order id: from MySQL, else (redis) the order
// Redis holds that is not written yet.
func (h *handler) answer(c *gin.Context, id string) {
	o := &order{Order: message.Order{ID: id}}
	err := h.db.QueryRowContext(c.Request.Context(), `SELECT item_id, quantity, customer_id, status, reason, created_at
		FROM orders WHERE id = ?`, id).Scan(&o.ItemID, &o.Quantity, &o.CustomerID, &o.Status, &o.Reason, &o.created)
	if errors.Is(err, sql.ErrNoRows) {
		err = errNotFound
		if h.redis != nil {
			o, err = h.redis.unwritten(c.Request.Context(), id)
		}
	}
	if errors.Is(err, errNotFound) {
		fail(c, http.StatusNotFound, "order_not_found", "no such order")
		return
	}
	if err != nil {
		h.internal(c, "read order", err)
		return
	}
	c.Header("Location", "/api/v1/orders/"+o.ID)
	c.JSON(http.StatusOK, o.document(lang(c)))
}

// lang is the language of an answer's labels: ?lang=, else Accept-Language,
// as the gateway reads it.
func lang(c *gin.Context) string {
	return orderstatus.Lang(c.Query("lang"), c.GetHeader("Accept-Language"))
}

func decode(c *gin.Context, v any) bool {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBody)
	if err := json.NewDecoder(c.Request.Body).Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(c, http.StatusRequestEntityTooLarge, "body_too_large", "the body is over 64 KiB")
		} else {
			fail(c, http.StatusBadRequest, "invalid_json", "the body is not the JSON document expected")
		}
		return false
	}
	return true
}

// internal answers an error no other answer fits: 503 with Retry-After for
// a server out of reach, 500 for the rest.
func (h *handler) internal(c *gin.Context, op string, err error) {
	if errors.Is(err, errUnavailable) {
		h.log.Warn(op, "err", err)
		c.Header("Retry-After", "1")
		fail(c, http.StatusServiceUnavailable, "unavailable", "the stock's store is unavailable; retry shortly")
		return
	}
	h.log.Error(op, "err", err)
	fail(c, http.StatusInternalServerError, "internal", "internal error")
}

func fail(c *gin.Context, status int, code, msg string) {
	c.AbortWithStatusJSON(status, gin.H{"error": gin.H{"code": code, "message": msg}})
}

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
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/mq"
	"github.com/orderq/orderq/shared/orderstatus"
)

// The redis strategy is the design most flash-sale ("seckill") systems use,
// followed here step by step:
//
//   - an item's stock is loaded into Redis when the item is created;
//   - an order runs one Lua script, atomic in Redis, that checks and
//     decrements the stock and pushes the order onto a list, once per order
//     id, and is answered at once: confirmed, or rejected out_of_stock;
//   - a writer takes the list's orders to MySQL, the system of record, in
//     batches: the orders and the stock they took, one transaction a batch;
//   - a stock key that is missing (Redis restarted empty) is loaded again
//     from MySQL by the script's caller, the usual cache warm-up.
//
// The last step is what a crash costs. Orders confirmed but still in the
// list die with Redis, and MySQL's stock, which never saw them, is what the
// warm-up loads: their units are sold a second time. The writer batches on
// a timer (Options.WriteEvery), as such writers do to spare MySQL, so what a
// crash loses is the orders of the last interval.

// DefaultWriteEvery is how often the redis strategy's writer takes the
// orders in Redis to MySQL when Options.WriteEvery is 0.
const DefaultWriteEvery = 100 * time.Millisecond

// writeBatch is the most orders the writer takes in one transaction; a full
// batch is followed by the next at once.
const writeBatch = 500

// catchUpWait bounds how long a stock read waits for the writer to have
// written every order Redis holds.
const catchUpWait = 10 * time.Second

// errUnavailable is Redis out of reach, or a writer that did not catch up:
// the answer is 503, retry.
var errUnavailable = errors.New("unavailable")

// decideScript is the order's one round trip. KEYS: the item's stock, the
// order, the list of orders to write. ARGV: the quantity, the order as the
// writer reads it. It answers {status, "new"} for an order it decided,
// {status, "again"} for one decided before (its retry), and {"missing"} when
// the item's stock is not in Redis.
var decideScript = redis.NewScript(`
local seen = redis.call('HGET', KEYS[2], 'status')
if seen then return {seen, 'again'} end
local stock = redis.call('GET', KEYS[1])
if not stock then return {'missing'} end
local status = 'rejected'
if tonumber(stock) >= tonumber(ARGV[1]) then
	redis.call('DECRBY', KEYS[1], ARGV[1])
	redis.call('RPUSH', KEYS[3], ARGV[2])
	status = 'confirmed'
end
redis.call('HSET', KEYS[2], 'status', status, 'order', ARGV[2])
return {status, 'new'}
`)

// queued is an order as Redis holds it and the writer reads it.
type queued struct {
	ID         string    `json:"id"`
	ItemID     int64     `json:"item_id"`
	Quantity   int       `json:"quantity"`
	CustomerID string    `json:"customer_id"`
	Created    time.Time `json:"created_at"`
}

// redisStock is the redis strategy's Redis and its writer.
type redisStock struct {
	rdb    *redis.Client
	db     *sql.DB
	log    *slog.Logger
	prefix string // of every key, so that a Redis given to the comparison keeps apart what it held
	every  time.Duration

	// mu orders the writer's taking of a batch with a read of what is left
	// to write: between the two, the batch is in neither the list nor MySQL.
	mu      sync.Mutex
	holding int // orders taken from the list, not yet committed

	wake   chan struct{} // asks the writer for a batch now
	stop   chan struct{} // closed by close: write what is left, then return
	cancel context.CancelFunc
	done   chan struct{}
}

// openRedis connects to url and starts the writer.
func openRedis(ctx context.Context, url string, pool int, every time.Duration, db *sql.DB, log *slog.Logger) (*redisStock, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	// RESP2 without the handshake's extras: nothing to negotiate with a
	// server that may be any version, or restarting.
	opts.Protocol, opts.DisableIdentity = 2, true
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	// A Redis that is gone must be a quick 503, not an order held in the
	// client's retries: the buyer retries, as Retry-After says.
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = time.Second, 3*time.Second, 3*time.Second
	opts.MaxRetries, opts.DialerRetries = -1, 1
	opts.PoolSize = pool
	rdb := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("connect to redis at %s: %w", opts.Addr, err)
	}
	b := make([]byte, 4)
	rand.Read(b)
	wctx, wcancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &redisStock{
		rdb: rdb, db: db, log: log, every: every,
		prefix: "orderq-yardstick:" + hex.EncodeToString(b) + ":",
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		cancel: wcancel,
		done:   make(chan struct{}),
	}
	go s.write(wctx)
	return s, nil
}

func (s *redisStock) stockKey(item int64) string {
	return s.prefix + "stock:" + strconv.FormatInt(item, 10)
}
func (s *redisStock) orderKey(id string) string { return s.prefix + "order:" + id }
func (s *redisStock) queueKey() string          { return s.prefix + "orders" }

// createItem stores the item in MySQL and its stock in Redis, in MySQL's
// transaction: an item Redis did not take is not created.
func (s *redisStock) createItem(ctx context.Context, name string, stock int64) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	id, err := insertItem(ctx, tx, name, stock)
	if err != nil {
		return 0, err
	}
	if err := s.rdb.Set(ctx, s.stockKey(id), stock, 0).Err(); err != nil {
		return 0, s.unreachable(err)
	}
	return id, tx.Commit()
}

// decide places o by the script, loading the item's stock from MySQL when
// Redis lacks it.
func (s *redisStock) decide(ctx context.Context, _ *sql.DB, o *order) error {
	doc, err := json.Marshal(queued{ID: o.ID, ItemID: o.ItemID, Quantity: o.Quantity, CustomerID: o.CustomerID, Created: o.created})
	if err != nil {
		return err
	}
	keys := []string{s.stockKey(o.ItemID), s.orderKey(o.ID), s.queueKey()}
	// A Redis that restarts again between the warm-up and the script takes
	// another warm-up; one that keeps restarting is unavailable.
	for range 3 {
		res, err := decideScript.Run(ctx, s.rdb, keys, o.Quantity, doc).StringSlice()
		if err != nil {
			return s.unreachable(err)
		}
		switch {
		case res[0] == "missing":
			if err := s.warm(ctx, o.ItemID); err != nil {
				return err
			}
			continue
		case len(res) == 2 && res[1] == "again":
			return errDuplicate
		case res[0] == string(orderstatus.Confirmed):
			o.Status = orderstatus.Confirmed
		default:
			o.reject(message.ReasonOutOfStock)
		}
		return nil
	}
	return fmt.Errorf("%w: the stock of item %d vanished from redis three times", errUnavailable, o.ItemID)
}

// warm loads the item's stock from MySQL into Redis, unless another order
// did meanwhile. MySQL's stock is that of the orders written so far: the
// ones Redis confirmed and lost before they were written are sold again.
func (s *redisStock) warm(ctx context.Context, item int64) error {
	var stock int64
	err := s.db.QueryRowContext(ctx, `SELECT stock FROM items WHERE id = ?`, item).Scan(&stock)
	if errors.Is(err, sql.ErrNoRows) {
		return errNoItem
	}
	if err != nil {
		return err
	}
	set, err := s.rdb.SetNX(ctx, s.stockKey(item), stock, 0).Result()
	if err != nil {
		return s.unreachable(err)
	}
	if set {
		s.log.Warn("stock loaded from mysql", "item_id", item, "stock", stock)
	}
	return nil
}

// unwritten reads the order id from Redis: one decided and not yet written
// to MySQL, or rejected (a rejection is never written). errNotFound when
// Redis does not hold it either.
func (s *redisStock) unwritten(ctx context.Context, id string) (*order, error) {
	v, err := s.rdb.HMGet(ctx, s.orderKey(id), "status", "order").Result()
	if err != nil {
		return nil, s.unreachable(err)
	}
	status, _ := v[0].(string)
	doc, _ := v[1].(string)
	if status == "" || doc == "" {
		return nil, errNotFound
	}
	var q queued
	if err := json.Unmarshal([]byte(doc), &q); err != nil {
		return nil, fmt.Errorf("order %s in redis: %w", id, err)
	}
	o := &order{Order: message.Order{ID: q.ID, ItemID: q.ItemID, Quantity: q.Quantity, CustomerID: q.CustomerID,
		Status: orderstatus.Confirmed}, created: q.Created}
	if status != string(orderstatus.Confirmed) {
		o.reject(message.ReasonOutOfStock)
	}
	return o, nil
}

// caughtUp returns once every order Redis confirmed is in MySQL, asking the
// writer not to wait for its next interval; errUnavailable when that takes
// longer than catchUpWait, or Redis cannot tell.
func (s *redisStock) caughtUp(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, catchUpWait)
	defer cancel()
	for {
		s.mu.Lock()
		n, err := s.rdb.LLen(ctx, s.queueKey()).Result()
		n += int64(s.holding)
		s.mu.Unlock()
		if err != nil {
			return s.unreachable(err)
		}
		if n == 0 {
			return nil
		}
		select {
		case s.wake <- struct{}{}:
		default:
		}
		if !mq.Sleep(ctx, 5*time.Millisecond) {
			return fmt.Errorf("%w: %d orders not yet written after %s", errUnavailable, n, catchUpWait)
		}
	}
}

// write is the writer: every interval (or at once when asked, or after a
// full batch) it takes a batch from the list and writes it, retrying MySQL
// until it takes the batch, and Redis until it answers. Once stop is closed
// it writes what is left and returns; ctx ends it at once.
func (s *redisStock) write(ctx context.Context) {
	defer close(s.done)
	tick := time.NewTicker(s.every)
	defer tick.Stop()
	stopping := false
	for {
		n, err := s.writeBatch(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			// Stopping or not, what the list holds is still to be written.
			s.log.Warn("write orders", "err", err)
			if !mq.Sleep(ctx, 100*time.Millisecond) {
				return
			}
			continue
		case n == writeBatch:
			continue
		case stopping:
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-s.stop:
			stopping = true
		case <-tick.C:
		case <-s.wake:
		}
	}
}

// writeBatch takes up to writeBatch orders from the list and writes them to
// MySQL, and returns how many it took. Taken, they are the writer's: a MySQL
// that fails is retried until ctx ends.
func (s *redisStock) writeBatch(ctx context.Context) (int, error) {
	s.mu.Lock()
	docs, err := s.rdb.LPopCount(ctx, s.queueKey(), writeBatch).Result()
	if errors.Is(err, redis.Nil) {
		err = nil
	}
	s.holding = len(docs)
	s.mu.Unlock()
	if err != nil || len(docs) == 0 {
		return 0, err
	}
	defer func() {
		s.mu.Lock()
		s.holding = 0
		s.mu.Unlock()
	}()
	batch := make([]queued, 0, len(docs))
	for _, d := range docs {
		var q queued
		if err := json.Unmarshal([]byte(d), &q); err != nil {
			// Only decide writes the list: this cannot be, and must not stop the rest.
			s.log.Error("order in redis", "doc", d, "err", err)
			continue
		}
		batch = append(batch, q)
	}
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		err := s.commit(ctx, batch)
		if err == nil {
			return len(docs), nil
		}
		s.log.Warn("write orders to mysql", "orders", len(batch), "err", err)
		if !mq.Sleep(ctx, wait) {
			return len(docs), fmt.Errorf("%d orders taken from redis not written: %w", len(batch), err)
		}
	}
}

// commit writes batch in one transaction: the orders MySQL does not hold yet
// (one the same id came before, from before a restart of Redis, is not
// written or counted twice), and what they took of each item's stock.
func (s *redisStock) commit(ctx context.Context, batch []queued) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ids := make([]any, len(batch))
	for i, q := range batch {
		ids[i] = q.ID
	}
	rows, err := tx.QueryContext(ctx, `SELECT id FROM orders WHERE id IN (?`+strings.Repeat(",?", len(ids)-1)+`)`, ids...)
	if err != nil {
		return err
	}
	stored := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		stored[id] = true
	}
	if err := rows.Close(); err != nil {
		return err
	}
	var values []string
	var args []any
	took := map[int64]int64{}
	for _, q := range batch {
		if stored[q.ID] {
			continue
		}
		stored[q.ID] = true
		values = append(values, "(?, ?, ?, ?, ?, NULL, ?)")
		args = append(args, q.ID, q.ItemID, q.Quantity, q.CustomerID, string(orderstatus.Confirmed), q.Created)
		took[q.ItemID] += int64(q.Quantity)
	}
	if len(values) == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO orders (id, item_id, quantity, customer_id, status, reason, created_at) VALUES `+
		strings.Join(values, ", "), args...); err != nil {
		return err
	}
	for item, n := range took {
		if _, err := tx.ExecContext(ctx, `UPDATE items SET stock = stock - ? WHERE id = ?`, n, item); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// close writes what the list holds, within ctx, stops the writer, removes
// the keys of this server from Redis and disconnects.
func (s *redisStock) close(ctx context.Context) error {
	close(s.stop)
	var err error
	select {
	case <-s.done:
	case <-ctx.Done():
		s.cancel()
		<-s.done
		err = fmt.Errorf("the redis writer did not finish: %w", ctx.Err())
	}
	s.cancel()
	if cerr := s.clean(ctx); err == nil {
		err = cerr
	}
	if cerr := s.rdb.Close(); err == nil {
		err = cerr
	}
	return err
}

// clean deletes every key of this server, once Redis answers: a Redis that
// just restarted may not yet.
func (s *redisStock) clean(ctx context.Context) error {
	for s.rdb.Ping(ctx).Err() != nil {
		if !mq.Sleep(ctx, 100*time.Millisecond) {
			break // the scan says why
		}
	}
	iter := s.rdb.Scan(ctx, 0, s.prefix+"*", 1000).Iterator()
	var keys []string
	flush := func() error {
		if len(keys) == 0 {
			return nil
		}
		err := s.rdb.Unlink(ctx, keys...).Err()
		keys = keys[:0]
		return err
	}
	for iter.Next(ctx) {
		if keys = append(keys, iter.Val()); len(keys) == 1000 {
			if err := flush(); err != nil {
				return fmt.Errorf("remove the keys from redis: %w", err)
			}
		}
	}
	if err := errors.Join(iter.Err(), flush()); err != nil {
		return fmt.Errorf("remove the keys from redis: %w", err)
	}
	return nil
}

// unreachable is err of Redis as an order's answer: an error Redis answered
// is a bug and stays what it is; any other is Redis out of reach.
func (s *redisStock) unreachable(err error) error {
	var re redis.Error
	if errors.As(err, &re) {
		return fmt.Errorf("redis: %w", err)
	}
	return fmt.Errorf("%w: redis: %v", errUnavailable, err)
}

package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Idempotency-Key records. A key is first reserved for a new order id, before
// the order is published; it becomes accepted once the broker confirmed, and is
// released again when the publish failed, so the client's retry can succeed.
const (
	keyReserved = "reserved"
	keyAccepted = "accepted"
)

// A reservation older than this belongs to a gateway that died between
// reserving and publishing; the key may be taken over.
const staleReservation = time.Minute

// ErrKeyReused means the key was used before with another request body.
var ErrKeyReused = errors.New("idempotency key reused with another request")

// ErrKeyInFlight means the first request with this key is still being
// published.
var ErrKeyInFlight = errors.New("idempotency key in flight")

type keyRow struct {
	KeyHash     []byte
	RequestHash []byte
	OrderID     string
	State       string
	CreatedAt   time.Time
}

func (keyRow) TableName() string { return "idempotency_keys" }

// Reservation is the outcome of reserving a key.
type Reservation struct {
	OrderID   string    // the order the key stands for
	CreatedAt time.Time // when that order was accepted
	Fresh     bool      // the key was new: the caller publishes OrderID
}

// ReserveKey reserves key for a request (request is its canonical form) and the
// new order id orderID. If the key is known it returns the order it stands for,
// ErrKeyReused if the request differs, or ErrKeyInFlight while the first request
// is still publishing.
func (s *Store) ReserveKey(ctx context.Context, key string, request []byte, orderID string, now time.Time) (Reservation, error) {
	kh, rh := sha256.Sum256([]byte(key)), sha256.Sum256(request)
	row := keyRow{KeyHash: kh[:], RequestHash: rh[:], OrderID: orderID, State: keyReserved, CreatedAt: now}
	res := s.db.WithContext(ctx).Clauses(clause.Insert{Modifier: "IGNORE"}).Create(&row)
	if res.Error != nil {
		return Reservation{}, fmt.Errorf("reserve idempotency key: %w", res.Error)
	}
	if res.RowsAffected == 1 {
		return Reservation{OrderID: orderID, CreatedAt: now, Fresh: true}, nil
	}
	var got keyRow
	err := s.db.WithContext(ctx).Where("key_hash = ?", kh[:]).Take(&got).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		// Released between our insert and read: try once more.
		return s.ReserveKey(ctx, key, request, orderID, now)
	}
	if err != nil {
		return Reservation{}, fmt.Errorf("read idempotency key: %w", err)
	}
	switch {
	case !bytes.Equal(got.RequestHash, rh[:]):
		return Reservation{}, ErrKeyReused
	case got.State == keyAccepted:
		return Reservation{OrderID: got.OrderID, CreatedAt: got.CreatedAt}, nil
	case now.Sub(got.CreatedAt) > staleReservation:
		take := s.db.WithContext(ctx).Model(&keyRow{}).
			Where("key_hash = ? AND state = ? AND order_id = ?", kh[:], keyReserved, got.OrderID).
			Updates(map[string]any{"order_id": orderID, "created_at": now})
		if take.Error != nil {
			return Reservation{}, fmt.Errorf("take over idempotency key: %w", take.Error)
		}
		if take.RowsAffected == 1 {
			return Reservation{OrderID: orderID, CreatedAt: now, Fresh: true}, nil
		}
	}
	return Reservation{}, ErrKeyInFlight
}

// AcceptKey marks key's order as published.
func (s *Store) AcceptKey(ctx context.Context, key string) error {
	kh := sha256.Sum256([]byte(key))
	err := s.db.WithContext(ctx).Model(&keyRow{}).Where("key_hash = ?", kh[:]).Update("state", keyAccepted).Error
	if err != nil {
		return fmt.Errorf("accept idempotency key: %w", err)
	}
	return nil
}

// ReleaseKey forgets a reservation whose order was not published.
func (s *Store) ReleaseKey(ctx context.Context, key, orderID string) error {
	kh := sha256.Sum256([]byte(key))
	err := s.db.WithContext(ctx).Where("key_hash = ? AND order_id = ? AND state = ?", kh[:], orderID, keyReserved).
		Delete(&keyRow{}).Error
	if err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// PurgeKeys deletes up to 1000 keys created before cutoff and reports how many.
func (s *Store) PurgeKeys(ctx context.Context, cutoff time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Where("created_at < ?", cutoff).Limit(1000).Delete(&keyRow{})
	if res.Error != nil {
		return 0, fmt.Errorf("purge idempotency keys: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

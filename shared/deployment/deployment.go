// Package deployment is what every program of a deployment must agree on
// beyond its own environment, kept in the database (table orderq_meta): the
// shard count, and whether the gateways take commands for the shard queues
// (the intake), which `orderqctl shards change` closes while it changes the
// count.
//
// Every transaction that routes a command by shard (the worker's batches,
// outbox.Add) checks the count under a shared lock of its row (Guard), and
// Change writes it under an exclusive one: a change of the count and a
// command routed by the old one never interleave.
package deployment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"gorm.io/gorm"
)

// Errors.
var (
	// ErrShardsMismatch: the program runs another shard count than the
	// deployment's.
	ErrShardsMismatch = errors.New("shard count mismatch")
	// ErrShardsChanged: the deployment's shard count changed while the
	// program ran with the old one; it must restart with the new one.
	ErrShardsChanged = errors.New("the deployment's shard count changed")
	// ErrIntakePaused: the gateways take no commands for the shard queues.
	ErrIntakePaused = errors.New("intake paused")
)

// The rows of orderq_meta this package keeps.
const (
	shardsKey = "shards"
	intakeKey = "intake" // "paused", or no row: open
)

// State is what the programs read of the deployment.
type State struct {
	Shards     int
	IntakeOpen bool
}

// Check records n as the deployment's shard count on first use and refuses
// any other count afterwards: a gateway and a worker that disagree would
// route an item's orders to a queue nobody applies them from.
func Check(ctx context.Context, db *gorm.DB, n int) error {
	err := db.WithContext(ctx).Exec("INSERT IGNORE INTO orderq_meta (name, value) VALUES (?, ?)", shardsKey, strconv.Itoa(n)).Error
	if err != nil {
		return fmt.Errorf("record shard count: %w", err)
	}
	st, err := Read(ctx, db)
	if err != nil {
		return err
	}
	if st.Shards != n {
		return fmt.Errorf("%w: SHARDS=%d but this deployment runs %d shards; every gateway and worker must use the same count "+
			"(orderqctl shards change changes it)", ErrShardsMismatch, n, st.Shards)
	}
	return nil
}

// Read returns the deployment's state.
func Read(ctx context.Context, db *gorm.DB) (State, error) {
	var rows []struct{ Name, Value string }
	if err := db.WithContext(ctx).Raw("SELECT name, value FROM orderq_meta WHERE name IN (?, ?)", shardsKey, intakeKey).Scan(&rows).Error; err != nil {
		return State{}, fmt.Errorf("read the deployment's state: %w", err)
	}
	st := State{IntakeOpen: true}
	for _, r := range rows {
		switch r.Name {
		case shardsKey:
			n, err := strconv.Atoi(r.Value)
			if err != nil {
				return State{}, fmt.Errorf("the deployment's shard count %q is not a number", r.Value)
			}
			st.Shards = n
		case intakeKey:
			st.IntakeOpen = r.Value != "paused"
		}
	}
	return st, nil
}

// Guard checks, in tx and under a shared lock of the count's row until tx
// ends, that the deployment still runs n shards. A database no program has
// recorded a count in yet (Check) has none to disagree with.
func Guard(tx *gorm.DB, n int) error {
	var values []string
	err := tx.Raw("SELECT value FROM orderq_meta WHERE name = ? LOCK IN SHARE MODE", shardsKey).Scan(&values).Error
	if err != nil {
		return fmt.Errorf("check the shard count: %w", err)
	}
	if len(values) == 1 && values[0] != strconv.Itoa(n) {
		return fmt.Errorf("%w: to %s, from %d", ErrShardsChanged, values[0], n)
	}
	return nil
}

// WatchEvery is how often the programs read the deployment's state.
const WatchEvery = time.Second

// Watch reads the deployment's state every WatchEvery until ctx is done,
// calls intake with whether the intake is open each time that changes (and
// first), and returns ErrShardsChanged once the count is no longer n. A
// read that fails is logged, and the last state holds.
func Watch(ctx context.Context, db *gorm.DB, n int, log *slog.Logger, intake func(open bool)) error {
	t := time.NewTicker(WatchEvery)
	defer t.Stop()
	known := false
	var open bool
	for {
		st, err := Read(ctx, db)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			log.Warn("reading the deployment's state", "err", err)
		case st.Shards != n:
			return fmt.Errorf("%w from %d to %d: restart every gateway and worker with SHARDS=%d", ErrShardsChanged, n, st.Shards, st.Shards)
		case !known || st.IntakeOpen != open:
			known, open = true, st.IntakeOpen
			intake(open)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// SetIntake opens or pauses the intake of every gateway (within WatchEvery).
func SetIntake(ctx context.Context, db *gorm.DB, open bool) error {
	var err error
	if open {
		err = db.WithContext(ctx).Exec("DELETE FROM orderq_meta WHERE name = ?", intakeKey).Error
	} else {
		err = db.WithContext(ctx).Exec("REPLACE INTO orderq_meta (name, value) VALUES (?, 'paused')", intakeKey).Error
	}
	if err != nil {
		return fmt.Errorf("set the intake: %w", err)
	}
	return nil
}

// Change records to as the deployment's shard count, from from, in one
// transaction that holds the count's row exclusively: it waits for the
// transactions that route by the old count to end, then asks drained, in
// the same transaction, whether anything routed by the old count is left;
// drained's error refuses the change. The programs running the old count
// stop (Watch, Guard).
func Change(ctx context.Context, db *gorm.DB, from, to int, drained func(tx *gorm.DB) error) error {
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var value string
		if err := tx.Raw("SELECT value FROM orderq_meta WHERE name = ? FOR UPDATE", shardsKey).Scan(&value).Error; err != nil {
			return fmt.Errorf("lock the shard count: %w", err)
		}
		if value != strconv.Itoa(from) {
			return fmt.Errorf("%w: the deployment runs %s shards, not %d", ErrShardsMismatch, value, from)
		}
		if err := drained(tx); err != nil {
			return err
		}
		return tx.Exec("UPDATE orderq_meta SET value = ? WHERE name = ?", strconv.Itoa(to), shardsKey).Error
	})
}

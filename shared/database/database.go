// Package database opens orderq's MySQL database: it creates the database when it
// is missing, applies the schema under a named lock so that processes starting
// together do it once, and checks the settings every process must share.
package database

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tune the connection pool.
type Options struct {
	MaxOpenConns int // 0 means 32
}

// Open connects to dsn, creating its database if missing and migrating it.
func Open(ctx context.Context, dsn string, log *slog.Logger, opts Options) (*gorm.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse dsn: %w", err)
	}
	// Placeholders filled in by the driver: one round trip a statement instead
	// of prepare, execute and close (three), which halved the cost of the
	// gateway's order lookups. Safe with the utf8mb4 connections used here.
	cfg.InterpolateParams = true
	// Affected rows count the rows changed, not those merely found: the worker
	// learns from an insert's count which of its orders already existed.
	cfg.ClientFoundRows = false
	if err := createDatabase(ctx, cfg); err != nil {
		return nil, err
	}
	if opts.MaxOpenConns == 0 {
		opts.MaxOpenConns = 32
	}
	db, err := gorm.Open(gormmysql.New(gormmysql.Config{DSNConfig: cfg}), &gorm.Config{
		TranslateError:         true,
		SkipDefaultTransaction: true,
		Logger:                 sqlLogger{log: log, slow: time.Second},
	})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	sqlDB.SetMaxOpenConns(opts.MaxOpenConns)
	sqlDB.SetMaxIdleConns(opts.MaxOpenConns)
	sqlDB.SetConnMaxLifetime(30 * time.Minute)
	if err := migrate(ctx, sqlDB, log); err != nil {
		sqlDB.Close()
		return nil, err
	}
	return db, nil
}

// Close closes db's pool.
func Close(db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Ping reports whether the database answers.
func Ping(ctx context.Context, db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

func createDatabase(ctx context.Context, cfg *mysql.Config) error {
	server := cfg.Clone()
	server.DBName = ""
	conn, err := sql.Open("mysql", server.FormatDSN())
	if err != nil {
		return fmt.Errorf("open server: %w", err)
	}
	defer conn.Close()
	var exists int
	err = conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?", cfg.DBName).Scan(&exists)
	if err != nil {
		return fmt.Errorf("look up database %q: %w", cfg.DBName, err)
	}
	if exists > 0 {
		return nil
	}
	name := "`" + strings.ReplaceAll(cfg.DBName, "`", "``") + "`"
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+name+" CHARACTER SET utf8mb4"); err != nil {
		return fmt.Errorf("create database %q: %w", cfg.DBName, err)
	}
	return nil
}

// migrate applies the embedded migrations not yet applied, in order, holding a
// named lock so that only one process migrates at a time.
func migrate(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK('orderq.migrate', 60)").Scan(&got); err != nil {
		return fmt.Errorf("migrate: take lock: %w", err)
	}
	if got.Int64 != 1 {
		return errors.New("migrate: another process held the schema lock for 60 s")
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "DO RELEASE_LOCK('orderq.migrate')")

	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INT NOT NULL PRIMARY KEY, applied_at DATETIME(6) NOT NULL) ENGINE=InnoDB`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	applied := map[int]bool{}
	rows, err := conn.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("migrate: %w", err)
		}
		applied[v] = true
	}
	rows.Close()

	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(files)
	for _, f := range files {
		name := strings.TrimPrefix(f, "migrations/")
		version, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migrate: %s: name must start with its version", name)
		}
		if applied[version] {
			continue
		}
		body, err := migrations.ReadFile(f)
		if err != nil {
			return err
		}
		for _, stmt := range statements(string(body)) {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migrate %s: %w", name, err)
			}
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, NOW(6))", version); err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		log.Info("schema migrated", "migration", name)
	}
	return nil
}

// statements splits a migration into statements at semicolons that end a line,
// dropping comment lines.
func statements(body string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(body, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// ErrShardsMismatch is returned by CheckShards when the database was set up for
// another shard count.
var ErrShardsMismatch = errors.New("shard count mismatch")

// CheckShards records n as the deployment's shard count on first use and refuses
// any other count afterwards: a gateway and a worker that disagree would route an
// item's orders to a queue nobody applies them from.
func CheckShards(ctx context.Context, db *gorm.DB, n int) error {
	err := db.WithContext(ctx).Exec("INSERT IGNORE INTO orderq_meta (name, value) VALUES ('shards', ?)", strconv.Itoa(n)).Error
	if err != nil {
		return fmt.Errorf("record shard count: %w", err)
	}
	var value string
	if err := db.WithContext(ctx).Raw("SELECT value FROM orderq_meta WHERE name = 'shards'").Scan(&value).Error; err != nil {
		return fmt.Errorf("read shard count: %w", err)
	}
	if value != strconv.Itoa(n) {
		return fmt.Errorf("%w: SHARDS=%d but this deployment runs %s shards; every gateway and worker must use the same count (to change it, drain the queues, stop everything and update orderq_meta)", ErrShardsMismatch, n, value)
	}
	return nil
}

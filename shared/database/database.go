// Package database opens orderq's MySQL database: it creates the database when it
// is missing, applies the schema's migrations under a named lock so that
// processes starting together apply each once (migrate.go says how, and how a
// migration interrupted part way is resumed), and checks the settings every
// process must share.
package database

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
)

//go:embed migrations/*.sql
var migrations embed.FS

// schema is the migrations, at the root.
var schema = func() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // a constant path of the embedded tree
	}
	return sub
}()

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
	if err := migrate(ctx, sqlDB, log, schema, lockTimeout); err != nil {
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

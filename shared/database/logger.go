package database

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// sqlLogger logs failed and slow statements through slog. gorm's own slog
// logger renders every statement with its values before deciding whether to
// log it, which for a batch of five hundred rows costs more than sending it;
// this one renders only what it logs, and cuts it short.
type sqlLogger struct {
	log  *slog.Logger
	slow time.Duration
}

func (l sqlLogger) LogMode(logger.LogLevel) logger.Interface { return l }

func (l sqlLogger) Info(ctx context.Context, msg string, data ...any) {
	l.log.InfoContext(ctx, msg, "data", data)
}

func (l sqlLogger) Warn(ctx context.Context, msg string, data ...any) {
	l.log.WarnContext(ctx, msg, "data", data)
}

func (l sqlLogger) Error(ctx context.Context, msg string, data ...any) {
	l.log.ErrorContext(ctx, msg, "data", data)
}

// maxLoggedSQL bounds the statement text in a log line.
const maxLoggedSQL = 1000

func (l sqlLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	elapsed := time.Since(begin)
	failed := err != nil && !errors.Is(err, gorm.ErrRecordNotFound)
	if !failed && elapsed <= l.slow {
		return
	}
	sql, rows := fc()
	if len(sql) > maxLoggedSQL {
		sql = sql[:maxLoggedSQL] + "…"
	}
	attrs := []any{"duration_ms", float64(elapsed.Microseconds()) / 1000, "sql", sql, "rows", rows}
	if failed {
		l.log.ErrorContext(ctx, "sql failed", append(attrs, "err", err)...)
		return
	}
	l.log.WarnContext(ctx, "sql slow", attrs...)
}

package database

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/go-sql-driver/mysql"
)

// ErrUnavailable marks an error as the database being out of reach; wrap it
// (fmt.Errorf("%w: …", ErrUnavailable)) where a caller knows so itself.
var ErrUnavailable = errors.New("database unavailable")

// Unavailable reports whether err says the database could not be reached or
// answer, rather than that it refused the statement: a retry later may
// succeed, and nothing the caller sent was at fault. A crashed or restarting
// server shows as a connection refused or reset, a connection that broke
// under a statement (the driver's "invalid connection", database/sql's
// driver.ErrBadConn), or a server error saying it is shutting down, full or
// gone; a server that does not answer at all, as a deadline that passed or a
// dial that timed out. A statement the server refused (bad SQL, a violated
// constraint, a missing row) is not unavailability: that is a bug or bad
// data, and retrying cannot cure it.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1040, // too many connections
			1053,       // server shutdown in progress
			1927,       // connection killed
			2002, 2003, // cannot connect (as a proxy may report it)
			2006, 2013: // server gone away, lost connection during a query
			return true
		}
		return false
	}
	var ne net.Error
	switch {
	case errors.Is(err, ErrUnavailable),
		errors.Is(err, driver.ErrBadConn),
		errors.Is(err, mysql.ErrInvalidConn),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE),
		errors.As(err, &ne): // dial, DNS and read errors, timeouts included
		return true
	}
	return false
}

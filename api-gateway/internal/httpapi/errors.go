package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/orderq/orderq/api-gateway/internal/store"
	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/deployment"
	"github.com/orderq/orderq/shared/mq"
)

// apiError is an error with the status and code the client sees.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func newError(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) *apiError {
	return newError(http.StatusUnprocessableEntity, "validation_failed", format, args...)
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// fail is the one place errors become HTTP answers. Errors it does not know
// are logged with their detail and answered as a bare 500. A broker or
// database out of reach is 503 with Retry-After, never 500: the request was
// fine and may be sent again.
func (s *Server) fail(c *gin.Context, err error) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, deployment.ErrIntakePaused):
		ae = newError(http.StatusServiceUnavailable, "unavailable", "orders and stock changes pause while the shard count changes; retry shortly")
	case errors.Is(err, mq.ErrUnavailable):
		s.log.Warn("order intake unavailable", "err", err)
		ae = newError(http.StatusServiceUnavailable, "unavailable", "the order queue is unavailable; retry shortly")
	case database.Unavailable(err):
		// Out of reach, not wrong: a retry may succeed once it is back.
		s.log.Warn("database unavailable", "method", c.Request.Method, "path", c.FullPath(), "err", err)
		ae = newError(http.StatusServiceUnavailable, "unavailable", "the database is unavailable; retry shortly")
	case errors.Is(err, context.Canceled) && c.Request.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		ae = newError(499, "client_closed_request", "request canceled")
	default:
		s.log.Error("request failed", "method", c.Request.Method, "path", c.FullPath(), "err", err)
		ae = newError(http.StatusInternalServerError, "internal", "internal error")
	}
	if ae.status == http.StatusServiceUnavailable || ae.status == http.StatusTooManyRequests {
		c.Header("Retry-After", "1")
	}
	var body errorBody
	body.Error.Code, body.Error.Message = ae.code, ae.message
	c.AbortWithStatusJSON(ae.status, body)
}

func notFound(what string) *apiError {
	return newError(http.StatusNotFound, what+"_not_found", "%s not found", what)
}

// itemErr turns store.ErrNoItem into the 404 item_not_found.
func itemErr(err error) error {
	if errors.Is(err, store.ErrNoItem) {
		return notFound("item")
	}
	return err
}

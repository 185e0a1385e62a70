package httpapi

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// traceRequest gives an API request (under /api/) a server span, named by
// its method and route ("POST /api/v1/orders"), which continues the trace
// of a W3C traceparent the caller sends: a storefront's trace goes on into
// orderq. Health checks and the documents are not traced; a load
// balancer's probes would crowd the traces out.
//
// It is not otelhttp's handler: that one describes every request, sampled
// or not, and wraps its body and writer, which made an unsampled request
// cost several times what this does. Here a request that is not sampled
// gets a span that records nothing and no attributes.
func (s *Server) traceRequest(c *gin.Context) {
	r := c.Request
	if !strings.HasPrefix(r.URL.Path, "/api/") {
		c.Next()
		return
	}
	ctx := s.tracer.Propagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := s.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	c.Request = r.WithContext(ctx)
	c.Next()
	if !span.IsRecording() {
		return
	}
	status := c.Writer.Status()
	span.SetAttributes(semconv.HTTPRequestMethodKey.String(r.Method), semconv.URLPath(r.URL.Path),
		semconv.HTTPResponseStatusCode(status), semconv.UserAgentOriginal(r.UserAgent()))
	if route := c.FullPath(); route != "" {
		span.SetName(r.Method + " " + route)
		span.SetAttributes(semconv.HTTPRoute(route))
	}
	if status >= http.StatusInternalServerError {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
}

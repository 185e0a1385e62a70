package crowd

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bytedance/sonic"
	"github.com/valyala/fasthttp"

	"github.com/orderq/orderq/shared/message"
)

// json is sonic, configured to behave as encoding/json: decoding the answers
// was a fifth of the crowd's CPU with encoding/json.
var json = sonic.ConfigStd

// Item is the gateway's item document.
type Item struct {
	ID             int64  `json:"id"`
	Name           string `json:"name"`
	Stock          int64  `json:"stock"`
	MaxPerCustomer int    `json:"max_per_customer"`
}

// order is the gateway's order document, as the crowd received it.
type order struct {
	message.Order
	// Waited is how long the gateway held the answer to Prefer: wait after
	// accepting the order; 0 when it did not wait.
	Waited time.Duration `json:"-"`
}

// APIError is an answer of the gateway that is not a success.
type APIError struct {
	Status     int
	Code       string        // the contract's error code; empty when the body had none
	Message    string        // the contract's message, or the start of the body
	RetryAfter time.Duration // from Retry-After; 0 when absent
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("gateway answered %d", e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// errBadAnswer is a success status with a body that is not the contract's document.
var errBadAnswer = errors.New("malformed answer")

// maxBody bounds what is read of an answer: the contract's documents are small.
const maxBody = 1 << 20

// api speaks the gateway's HTTP contract.
type api struct {
	base   string // ends before /api/v1
	token  string
	client *fasthttp.Client
}

// newClient returns a client with a keep-alive connection for each of conns
// requests at once; a request past that waits for a free connection.
//
// It is fasthttp's, not net/http's: the crowd shares the machine with what it
// measures, and net/http's client spent about 80 µs of CPU per order here, as
// much as the worker, in handing each request between three goroutines.
func newClient(conns int) *fasthttp.Client {
	return &fasthttp.Client{
		MaxConnsPerHost:          conns,
		MaxConnWaitTimeout:       requestSlack + MaxWait*time.Second,
		MaxIdleConnDuration:      time.Minute,
		MaxResponseBodySize:      maxBody,
		NoDefaultUserAgentHeader: true,
	}
}

// noDeadline bounds a request whose context has no deadline.
const noDeadline = time.Minute

func (a *api) createItem(ctx context.Context, name string, stock int64, maxPerCustomer int) (Item, error) {
	body, err := json.Marshal(map[string]any{"name": name, "stock": stock, "max_per_customer": maxPerCustomer})
	if err != nil {
		return Item{}, err
	}
	var it Item
	_, err = a.do(ctx, http.MethodPost, "/api/v1/items", header{"Authorization", "Bearer " + a.token}, body, &it, http.StatusCreated)
	return it, err
}

func (a *api) getItem(ctx context.Context, id int64) (Item, error) {
	var it Item
	_, err := a.do(ctx, http.MethodGet, "/api/v1/items/"+strconv.FormatInt(id, 10), header{}, nil, &it, http.StatusOK)
	return it, err
}

// placeOrder sends one attempt of an order from the buyer of cred; body is
// the encoded order and key its Idempotency-Key, the same on every attempt.
func (a *api) placeOrder(ctx context.Context, cred credential, key string, body []byte, wait int) (order, error) {
	h := make(header, 0, 6)
	h = append(h, "Idempotency-Key", key)
	if cred.name != "" {
		h = append(h, cred.name, cred.value)
	}
	if wait > 0 {
		h = append(h, "Prefer", "wait="+strconv.Itoa(wait))
	}
	var o order
	ans, err := a.do(ctx, http.MethodPost, "/api/v1/orders", h, body, &o, http.StatusOK, http.StatusAccepted)
	o.Waited = ans.waited
	return o, err
}

// getOrder reads an order as the buyer of cred, long-polling up to wait
// seconds for it to be final.
func (a *api) getOrder(ctx context.Context, cred credential, id string, wait int) (message.Order, error) {
	path := "/api/v1/orders/" + id
	if wait > 0 {
		path += "?wait=" + strconv.Itoa(wait)
	}
	var h header
	if cred.name != "" {
		h = header{cred.name, cred.value}
	}
	var o message.Order
	_, err := a.do(ctx, http.MethodGet, path, h, nil, &o, http.StatusOK)
	return o, err
}

// header is a request's extra header fields, as name, value, name, value…
type header []string

// answer is what do keeps of an answer besides its body.
type answer struct {
	status int
	waited time.Duration // Server-Timing's wait: held after the order was accepted
}

// do sends a request and decodes a JSON answer with one of the wanted statuses
// into out; any other status becomes an *APIError. The request ends by ctx's
// deadline; a request already in flight does not see a cancellation.
func (a *api) do(ctx context.Context, method, path string, h header, body []byte, out any, want ...int) (answer, error) {
	if err := ctx.Err(); err != nil {
		return answer{}, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(noDeadline)
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(a.base + path)
	req.Header.SetMethod(method)
	for i := 0; i+1 < len(h); i += 2 {
		req.Header.Set(h[i], h[i+1])
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBodyRaw(body)
	}
	if err := a.client.DoDeadline(req, resp, deadline); err != nil {
		if errors.Is(err, fasthttp.ErrTimeout) {
			return answer{}, fmt.Errorf("%w: %v", context.DeadlineExceeded, err)
		}
		return answer{}, err
	}
	ans, data := answer{status: resp.StatusCode()}, resp.Body()
	for _, w := range want {
		if ans.status == w {
			if err := json.Unmarshal(data, out); err != nil {
				return ans, fmt.Errorf("%w: %d: %v", errBadAnswer, ans.status, err)
			}
			ans.waited = serverWait(string(resp.Header.Peek("Server-Timing")))
			return ans, nil
		}
	}
	return ans, apiError(ans.status, string(resp.Header.Peek("Retry-After")), data)
}

// serverWait reads the wait metric of a Server-Timing header, as in
// "wait;dur=12.5" (milliseconds); 0 when there is none.
func serverWait(h string) time.Duration {
	for metric := range strings.SplitSeq(h, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(metric), ";")
		if name != "wait" {
			continue
		}
		for p := range strings.SplitSeq(params, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(p), "dur="); ok {
				if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
					return time.Duration(ms * float64(time.Millisecond))
				}
			}
		}
	}
	return 0
}

func apiError(status int, retryAfter string, data []byte) *APIError {
	e := &APIError{Status: status}
	var doc struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &doc) == nil && doc.Error.Code != "" {
		e.Code, e.Message = doc.Error.Code, doc.Error.Message
	} else {
		e.Message = strings.TrimSpace(string(data[:min(len(data), 200)]))
	}
	if s, err := strconv.Atoi(retryAfter); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

// kind names an error for the error counts: the phase and the cause.
func kind(phase string, err error) string { return phase + " " + cause(err) }

// cause names what went wrong: the status and code of an answer, a malformed
// answer, a cancelled request, or the network.
func cause(err error) string {
	var ae *APIError
	switch {
	case errors.As(err, &ae):
		if ae.Code != "" {
			return fmt.Sprintf("%d %s", ae.Status, ae.Code)
		}
		return strconv.Itoa(ae.Status)
	case errors.Is(err, errBadAnswer):
		return "malformed_answer"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "cancelled"
	default:
		return "network"
	}
}

// retryable reports whether another attempt with the same Idempotency-Key may
// succeed: the gateway was overloaded, unavailable or unreachable.
func retryable(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status == http.StatusTooManyRequests || ae.Status >= 500
	}
	return true
}

// mayHavePublished reports whether a failed attempt could still have placed the
// order: the gateway answered 5xx or the answer was lost. A 4xx is a refusal
// before anything was published.
func mayHavePublished(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500
	}
	return true
}

// listItems returns a page of items with ids above afterID, and the id to
// list after for the next page; nil when this was the last.
func (a *api) listItems(ctx context.Context, afterID int64, limit int) ([]Item, *int64, error) {
	var page struct {
		Items       []Item `json:"items"`
		NextAfterID *int64 `json:"next_after_id"`
	}
	path := fmt.Sprintf("/api/v1/items?after_id=%d&limit=%d", afterID, limit)
	_, err := a.do(ctx, http.MethodGet, path, header{}, nil, &page, http.StatusOK)
	return page.Items, page.NextAfterID, err
}

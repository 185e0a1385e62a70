package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/orderq/orderq/shared/message"
)

// maxBody bounds every request body.
const maxBody = 64 << 10

// decode reads the JSON body into v strictly: one object, no unknown fields, no
// trailing data, every value of the right type.
func decode(c *gin.Context, v any) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	return decodeBytes(body, v)
}

// readBody reads the request body, at most maxBody bytes.
func readBody(c *gin.Context) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, newError(http.StatusRequestEntityTooLarge, "body_too_large", "request body is larger than %d bytes", maxBody)
		}
		return nil, newError(http.StatusBadRequest, "invalid_json", "could not read the request body")
	}
	return body, nil
}

// decodeBytes is decode's reading of a body already read.
func decodeBytes(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return newError(http.StatusBadRequest, "invalid_json", "request body is empty; send a JSON object")
	}
	if !utf8.Valid(body) {
		// encoding/json would read invalid bytes as U+FFFD: another string
		// than the one sent.
		return newError(http.StatusBadRequest, "invalid_json", "request body is not valid UTF-8")
	}
	if err := unmarshal(body, v); err != nil {
		return err
	}
	return uniqueKeys(body)
}

// uniqueKeys refuses an object holding a key twice: decoders disagree on which
// one counts (encoding/json takes the last), so a body that two readers could
// read differently is not read at all. Keys are compared as encoding/json
// matches them to fields, ignoring case. It runs on bodies already decoded, so
// body is valid JSON, and it walks the bytes once without allocating for the
// bodies orderq takes (encoding/json's tokenizer cost a tenth of the
// gateway's CPU at 10,000 orders/s).
func uniqueKeys(body []byte) error {
	type frame struct {
		object bool
		first  int // the object's first key in keys
	}
	var frameBuf [8]frame
	var keyBuf [16][]byte
	open, keys := frameBuf[:0], keyBuf[:0]
	expectKey := false
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '{', '[':
			open = append(open, frame{object: body[i] == '{', first: len(keys)})
			expectKey = body[i] == '{'
		case '}', ']':
			keys = keys[:open[len(open)-1].first]
			open = open[:len(open)-1]
		case ',':
			expectKey = open[len(open)-1].object
		case '"':
			end := i + 1
			escaped := false
			for ; body[end] != '"'; end++ {
				if body[end] == '\\' {
					escaped = true
					end++
				}
			}
			if expectKey {
				key := body[i+1 : end]
				if escaped {
					var s string
					if err := json.Unmarshal(body[i:end+1], &s); err != nil {
						return newError(http.StatusBadRequest, "invalid_json", "request body is not valid JSON")
					}
					key = []byte(s)
				}
				for _, k := range keys[open[len(open)-1].first:] {
					if bytes.EqualFold(k, key) {
						return newError(http.StatusBadRequest, "invalid_json", "request body holds the key %q twice", key)
					}
				}
				keys = append(keys, key)
				expectKey = false
			}
			i = end
		}
	}
	return nil
}

// unmarshal is decode's reading of a body. sonic reads it; a body sonic refuses
// is read again by encoding/json, whose errors name the offending field, so
// what is accepted and every error are encoding/json's (FuzzUnmarshal holds
// the two to that). encoding/json alone took 4 % of the gateway's CPU and an
// eighth of its allocations at 10,000 orders/s.
func unmarshal(body []byte, v any) error {
	if message.Strict.Unmarshal(body, v) == nil {
		return nil
	}
	reflect.ValueOf(v).Elem().SetZero()
	return unmarshalStd(body, v)
}

// unmarshalStd reads a body with encoding/json.
func unmarshalStd(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return newError(http.StatusBadRequest, "invalid_json", "request body has data after the JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return newError(http.StatusBadRequest, "invalid_json", "request body must be a JSON object")
		}
		return invalid("%s must be %s", typeErr.Field, kind(typeErr.Type.Kind().String()))
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return newError(http.StatusBadRequest, "invalid_json", "request body is not valid JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return invalid("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return newError(http.StatusBadRequest, "invalid_json", "request body is not valid JSON")
}

func kind(k string) string {
	switch {
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"):
		return "a whole number"
	case k == "string":
		return "a string"
	}
	return "a " + k
}

// maxWait bounds every long poll and Prefer: wait, in seconds.
const maxWait = 30

// parseWait reads a wait in whole seconds, 0 to maxWait.
func parseWait(field, v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > maxWait {
		return 0, invalid("%s must be a whole number of seconds from 0 to %d", field, maxWait)
	}
	return n, nil
}

// preferWait reads the wait preference of an RFC 7240 Prefer header
// ("Prefer: wait=5"); other preferences are ignored, as the RFC allows.
func preferWait(header string) (int, error) {
	for _, pref := range strings.Split(header, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(pref), "=")
		if strings.EqualFold(strings.TrimSpace(name), "wait") {
			return parseWait("Prefer: wait", strings.Trim(strings.TrimSpace(value), `"`))
		}
	}
	return 0, nil
}

// queryLimit reads the limit of a list page: def when the query has none,
// else a whole number from 1 to most.
func queryLimit(c *gin.Context, def, most int) (int, error) {
	v := c.Query("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > most {
		return 0, invalid("limit must be a whole number from 1 to %d", most)
	}
	return n, nil
}

// isOrderID reports whether id is an order id: a UUID in its lowercase form.
func isOrderID(id string) bool {
	u, err := uuid.Parse(id)
	return err == nil && u.String() == id
}

// printableASCII reports whether s is printable ASCII without spaces, as
// Idempotency-Keys and payment event ids are.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// pathID reads a positive integer id from the path.
func pathID(c *gin.Context) (int64, error) { return pathNumber(c, "id", "id") }

// pathNumber reads the path parameter param, a positive whole number that
// an error calls what.
func pathNumber(c *gin.Context, param, what string) (int64, error) {
	n, err := strconv.ParseInt(c.Param(param), 10, 64)
	if err != nil || n <= 0 {
		return 0, newError(http.StatusBadRequest, "invalid_id", "%s must be a positive whole number", what)
	}
	return n, nil
}

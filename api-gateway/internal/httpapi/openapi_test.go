package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/orderq/orderq/shared/orderstatus"
)

// openapiMethods are the keys of an OpenAPI path item that are operations.
var openapiMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// apiDoc is the part of the OpenAPI document the tests read.
type apiDoc struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
}

type apiOperation struct {
	OperationID string                     `json:"operationId"`
	Security    []map[string][]string      `json:"security"`
	Responses   map[string]json.RawMessage `json:"responses"`
}

func loadDoc(t *testing.T) apiDoc {
	t.Helper()
	var doc apiDoc
	if err := json.Unmarshal(openapiDoc, &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	return doc
}

// operations returns the document's operations by "METHOD /path".
func (d apiDoc) operations(t *testing.T) map[string]apiOperation {
	t.Helper()
	ops := map[string]apiOperation{}
	for path, item := range d.Paths {
		for key, raw := range item {
			if !slices.Contains(openapiMethods, key) {
				continue
			}
			var op apiOperation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", key, path, err)
			}
			ops[strings.ToUpper(key)+" "+path] = op
		}
	}
	return ops
}

// statuses returns the statuses the document lists for the operation serving
// method and the concrete path target, and whether it has such an operation.
func (d apiDoc) statuses(t *testing.T, method, target string) ([]int, bool) {
	t.Helper()
	path, _, _ := strings.Cut(target, "?")
	for key, op := range d.operations(t) {
		m, tmpl, _ := strings.Cut(key, " ")
		re := regexp.MustCompile("^" + regexp.MustCompile(`\\\{[^/]+\\\}`).ReplaceAllString(regexp.QuoteMeta(tmpl), "[^/]+") + "$")
		if m != method || !re.MatchString(path) {
			continue
		}
		var codes []int
		for code := range op.Responses {
			n, err := strconv.Atoi(code)
			if err != nil {
				t.Fatalf("%s: response %q is not a status", key, code)
			}
			codes = append(codes, n)
		}
		slices.Sort(codes)
		return codes, true
	}
	return nil, false
}

// ginRoutes returns the routes gin serves as "METHOD /path", with :param
// written {param} as OpenAPI does. The docs' asset route is an implementation
// detail of /docs and left out.
func ginRoutes(t *testing.T) []string {
	t.Helper()
	engine, ok := New(Config{Log: testLogger(t), BrokerReady: func() bool { return true }}).(*gin.Engine)
	if !ok {
		t.Fatal("New does not return a *gin.Engine")
	}
	param := regexp.MustCompile(`:([A-Za-z0-9_]+)`)
	var routes []string
	for _, r := range engine.Routes() {
		if r.Path == "/docs/*file" {
			continue
		}
		routes = append(routes, r.Method+" "+param.ReplaceAllString(r.Path, "{$1}"))
	}
	slices.Sort(routes)
	return routes
}

// TestOpenAPIDocument keeps openapi.json in step with the code.
func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"is valid JSON", func(t *testing.T) {
			if !json.Valid(openapiDoc) {
				t.Fatal("openapi.json is not valid JSON")
			}
		}},
		{"lists every line status", func(t *testing.T) {
			var doc struct {
				Components struct {
					Schemas struct {
						OrderLine struct {
							Properties struct {
								Status struct {
									Enum []orderstatus.LineStatus `json:"enum"`
								} `json:"status"`
							} `json:"properties"`
						} `json:"OrderLine"`
					} `json:"schemas"`
				} `json:"components"`
			}
			if err := json.Unmarshal(openapiDoc, &doc); err != nil {
				t.Fatal(err)
			}
			documented := slices.Sorted(slices.Values(doc.Components.Schemas.OrderLine.Properties.Status.Enum))
			if want := slices.Sorted(slices.Values(orderstatus.LineStatuses)); !slices.Equal(documented, want) {
				t.Errorf("OrderLine.status enum %v, want the line statuses %v", documented, want)
			}
		}},
		{"is OpenAPI 3.0.x", func(t *testing.T) {
			if doc := loadDoc(t); !strings.HasPrefix(doc.OpenAPI, "3.0.") {
				t.Fatalf("openapi = %q, want 3.0.x", doc.OpenAPI)
			}
		}},
		{"documents exactly the routes gin serves", func(t *testing.T) {
			var documented []string
			for key := range loadDoc(t).operations(t) {
				documented = append(documented, key)
			}
			slices.Sort(documented)
			served := ginRoutes(t)
			for _, r := range served {
				if !slices.Contains(documented, r) {
					t.Errorf("route %s is served but not documented", r)
				}
			}
			for _, d := range documented {
				if !slices.Contains(served, d) {
					t.Errorf("operation %s is documented but not served", d)
				}
			}
		}},
		{"operation ids are present and unique", func(t *testing.T) {
			seen := map[string]string{}
			for key, op := range loadDoc(t).operations(t) {
				if op.OperationID == "" {
					t.Errorf("%s has no operationId", key)
				}
				if other, dup := seen[op.OperationID]; dup {
					t.Errorf("operationId %q is used by %s and %s", op.OperationID, key, other)
				}
				seen[op.OperationID] = key
			}
		}},
		{"every $ref resolves", func(t *testing.T) {
			var root any
			if err := json.Unmarshal(openapiDoc, &root); err != nil {
				t.Fatal(err)
			}
			for _, ref := range refs(root) {
				if _, err := resolve(root, ref); err != nil {
					t.Errorf("$ref %q: %v", ref, err)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.check(t)
		})
	}
}

// refs returns every $ref in v.
func refs(v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		if r, ok := v["$ref"].(string); ok {
			out = append(out, r)
		}
		for _, e := range v {
			out = append(out, refs(e)...)
		}
	case []any:
		for _, e := range v {
			out = append(out, refs(e)...)
		}
	}
	return out
}

// resolve follows a local JSON pointer reference ("#/a/b").
func resolve(root any, ref string) (any, error) {
	pointer, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("not a local reference")
	}
	cur := root
	for _, part := range strings.Split(pointer, "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%q is not inside an object", part)
		}
		if cur, ok = m[part]; !ok {
			return nil, fmt.Errorf("no %q", part)
		}
	}
	return cur, nil
}

// TestOpenAPISecurity checks the document's security against the routes: an
// operation with none answers a request without a credential, one with some
// refuses it (401), and a customer's or storefront's valid credential is
// refused (403) exactly where the operation does not list its scheme.
func TestOpenAPISecurity(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testDB(t))
	item := ts.createItem(t, "sneaker", 10, 0)
	before := countRows(t, ts.db)
	callers := []struct {
		scheme string
		header map[string]string
	}{
		{"", map[string]string{"Authorization": ""}},
		{"customerToken", asCustomer(t, "alice")},
		{"storefrontKey", asStorefront},
	}
	for key, op := range loadDoc(t).operations(t) {
		method, path, _ := strings.Cut(key, " ")
		if !strings.HasPrefix(path, "/api/v1/") {
			continue
		}
		schemes := map[string]bool{}
		for _, req := range op.Security {
			for name := range req {
				schemes[name] = true
			}
		}
		for _, cl := range callers {
			t.Run(key+" "+cl.scheme, func(t *testing.T) {
				id := strconv.FormatInt(item.ID, 10)
				if strings.HasPrefix(path, "/api/v1/orders/") {
					id = uuid.NewString()
				}
				target := strings.ReplaceAll(path, "{id}", id)
				// An empty object is invalid for every write, so nothing is
				// written whether or not the route lets it through.
				body := ""
				if method != http.MethodGet && method != http.MethodDelete {
					body = "{}"
				}
				rec := ts.serve(t, method, target, body, cl.header)
				switch {
				case len(schemes) == 0:
					if rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden {
						t.Errorf("answered %d, but the document asks no credential; body %s", rec.Code, rec.Body)
					}
				case cl.scheme == "":
					assertError(t, rec, http.StatusUnauthorized, "unauthorized")
				case schemes[cl.scheme]:
					if rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden {
						t.Errorf("answered %d, but the document accepts %s; body %s", rec.Code, cl.scheme, rec.Body)
					}
				case schemes["paymentSignature"]:
					assertError(t, rec, http.StatusUnauthorized, "unauthorized")
				default:
					assertError(t, rec, http.StatusForbidden, "forbidden")
				}
				if len(schemes) > 0 && !schemes[cl.scheme] {
					want := "401"
					if rec.Code == http.StatusForbidden {
						want = "403"
					}
					if op.Responses[want] == nil {
						t.Errorf("answered %s, which the document does not list", want)
					}
				}
			})
		}
	}
	if after := countRows(t, ts.db); after != before {
		t.Errorf("rows = %+v, want unchanged %+v", after, before)
	}
	if _, published := ts.sub.calls(); len(published) != 0 {
		t.Errorf("published %d commands, want none", len(published))
	}
}

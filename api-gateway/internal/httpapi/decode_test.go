package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzUnmarshal holds unmarshal to encoding/json: for any body and every
// request type, it accepts what encoding/json accepts, with the same values,
// and refuses the rest with encoding/json's error.
func FuzzUnmarshal(f *testing.F) {
	for _, seed := range []string{
		`{"item_id":1,"quantity":2,"customer_id":"c-1"}`,
		`{"customer_id":"c","lines":[{"item_id":1,"quantity":1},{"item_id":2}]}`,
		`{"ITEM_ID":1,"Customer_Id":"c"}`,
		`{"item_id":1,"item_id":2,"customer_id":"a","customer_id":"b"}`,
		`{"item_id":1.0}`, `{"item_id":1e2}`, `{"item_id":-0}`, `{"item_id":01}`,
		`{"item_id":99999999999999999999}`, `{"quantity":2147483648}`,
		`{"item_id":null,"customer_id":null,"lines":null}`,
		`{"customer_id":"\u00e9\ud83d\ude00"}`, `{"customer_id":"\ud800"}`,
		"{\"customer_id\":\"\xff\xfe\"}", "{\"customer_id\":\"a\tb\"}",
		`{"customer_id":"c"} x`, `{"customer_id":"c"} {}`, `{"customer_id":"c"}  `,
		`{"unknown":1}`, `{"lines":[{"item_id":1,"extra":true}]}`,
		`[1,2]`, `null`, `"s"`, `{`, `{"item_id":`, `{"item_id":true}`,
		`{"name":"n","stock":5,"max_per_customer":0}`, `{"stock":1e400}`,
		`{"name":"n","stock":"5"}`, `{"stock":null}`, `{"stock":[1]}`,
		`{"delta":-3}`, `{"set":4,"delta":null}`, `{"status":"paid"}`,
	} {
		f.Add([]byte(seed))
	}
	types := []func() any{
		func() any { return new(orderRequest) },
		func() any { return new(createItemRequest) },
		func() any { return new(updateItemRequest) },
		func() any { return new(stockRequest) },
		func() any { return new(statusRequest) },
		func() any { return new(unitsRequest) },
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, newReq := range types {
			got, want := newReq(), newReq()
			err, wantErr := unmarshal(body, got), unmarshalStd(body, want)
			if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
				t.Fatalf("%T from %q: error %v, encoding/json's %v", got, body, err, wantErr)
			}
			if err == nil && !reflect.DeepEqual(got, want) {
				t.Fatalf("%T from %q: %+v, encoding/json read %+v", got, body, got, want)
			}
		}
	})
}

// FuzzUniqueKeys holds uniqueKeys to a reference built on encoding/json's
// tokenizer: for any valid JSON, both refuse exactly the bodies with an
// object holding a key twice, ignoring case.
func FuzzUniqueKeys(f *testing.F) {
	for _, seed := range []string{
		`{"a":1,"b":2}`, `{"a":1,"a":2}`, `{"a":1,"A":2}`, `{"a":{"a":1},"b":[{"a":1,"a":2}]}`,
		`{"\u0061":1,"a":2}`, `{"a\"b":1,"a\"B":2}`, `[{"x":1},{"x":1}]`, `{"a":"a","b":"a"}`,
		`{"lines":[{"item_id":1},{"item_id":2}],"item_id":3}`, `{"k":[1,{"k":2}],"K":3}`, `"s"`, `[]`, `{}`,
		`{"ſ":1,"s":2}`, `{"K":1,"k":2}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) || !utf8.Valid(body) {
			return
		}
		got, want := uniqueKeys(body) == nil, referenceUniqueKeys(t, body)
		if got != want {
			t.Fatalf("uniqueKeys(%q) unique = %v, the reference says %v", body, got, want)
		}
	})
}

// referenceUniqueKeys walks body with encoding/json's tokenizer.
func referenceUniqueKeys(t *testing.T, body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()            // a valid number such as 1E1000 overflows float64
	var open []map[string]bool // nil for an array
	expectKey := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return true
		}
		if err != nil {
			t.Fatalf("valid JSON %q: %v", body, err)
		}
		switch tok := tok.(type) {
		case json.Delim:
			switch tok {
			case '{':
				open = append(open, map[string]bool{})
				expectKey = true
				continue
			case '[':
				open = append(open, nil)
			default:
				open = open[:len(open)-1]
			}
		case string:
			if expectKey {
				for k := range open[len(open)-1] {
					if bytes.EqualFold([]byte(k), []byte(tok)) {
						return false
					}
				}
				open[len(open)-1][tok] = true
				expectKey = false
				continue
			}
		}
		expectKey = len(open) > 0 && open[len(open)-1] != nil
	}
}

func BenchmarkUniqueKeys(b *testing.B) {
	body := []byte(`{"item_id":123456,"quantity":1,"customer_id":"customer-000123"}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := uniqueKeys(body); err != nil {
			b.Fatal(err)
		}
	}
}

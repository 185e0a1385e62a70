package httpapi

import (
	"reflect"
	"testing"
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

package message

import (
	"bytes"
	"fmt"
	"testing"
)

// FuzzDecodeCommands feeds the worker's decoder arbitrary bodies, as a broken
// or hostile publisher could. It must never panic, and whatever it accepts must
// be fit to apply: every command passes Validate, and encoding the commands
// and decoding them again gives the same commands (the worker forwards and
// re-publishes what it decoded).
func FuzzDecodeCommands(f *testing.F) {
	const id = "0190a0b2-7c4e-7d3a-9f10-2b3c4d5e6f70"
	for _, seed := range []string{
		`{"v":%d,"commands":[{"kind":"order","id":"` + id + `","accepted_at":"2026-11-22T03:00:00.123456Z","lines":[{"no":0,"item_id":1,"quantity":2}],"customer_id":"c-42","parts":1}]}`,
		`{"v":%d,"commands":[{"kind":"order","id":"` + id + `","accepted_at":"2026-11-22T03:00:00+07:00","lines":[{"no":0,"item_id":1,"quantity":1},{"no":1,"item_id":9,"quantity":3}],"customer_id":"pembeli é","parts":2}]}`,
		`{"v":%d,"commands":[{"kind":"order_part","id":"` + id + `","accepted_at":"2026-11-22T03:00:00Z","lines":[{"no":1,"item_id":9,"quantity":3}],"customer_id":"c","parts":2}]}`,
		`{"v":%d,"commands":[{"kind":"release","id":"` + id + `","accepted_at":"2026-11-22T03:00:00Z","lines":[{"no":0,"item_id":1,"quantity":2}]}]}`,
		`{"v":%d,"commands":[{"kind":"stock","id":"` + id + `","item_id":7,"accepted_at":"2026-11-22T03:00:00Z","delta":-5}]}`,
		`{"v":%d,"commands":[{"kind":"stock","id":"` + id + `","item_id":7,"accepted_at":"2026-11-22T03:00:00Z","set":1000}]}`,
		`{"v":%d,"commands":[{"kind":"delete_item","id":"` + id + `","item_id":7,"accepted_at":"2026-11-22T03:00:00Z"}]}`,
		// Refused ones: the fuzzer mutates from them too.
		`{"v":%d,"commands":[{"kind":"order","id":"not-a-uuid"}]}`,
		`{"v":%d,"commands":[]}`,
		`{"v":%d,"commands":[{"kind":"stock","id":"` + id + `","item_id":7,"delta":1,"set":2}]}`,
		`{"v":%d,"commands":[{"kind":"order","id":"` + id + `","lines":[{"item_id":1,"quantity":1},{"item_id":1,"quantity":1}],"customer_id":"c","parts":1}]}`,
		`{"v":%d,"commands":[{"kind":"order","id":"{` + id + `}","lines":[{"item_id":1,"quantity":1}],"customer_id":"c","parts":1}]}`,
		`{"v":%d,"commands":[{"kind":"order","id":"` + id + `","lines":[{"item_id":1,"quantity":1}],"customer_id":"c\u0007","parts":1}],"extra":1}`,
		`{"v":%d,"commands":null} {}`,
	} {
		f.Add([]byte(fmt.Sprintf(seed, Version)))
	}
	f.Add([]byte(`{"v":99,"commands":[]}`))
	f.Add([]byte(`not json`))
	f.Add([]byte(``))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"v":1e400}`))

	f.Fuzz(func(t *testing.T, body []byte) {
		cmds, err := DecodeCommands(body)
		if err != nil {
			return
		}
		for i := range cmds {
			if err := cmds[i].Validate(); err != nil {
				t.Fatalf("decoder accepted command %d that fails Validate: %v\nbody %q", i, err, body)
			}
		}
		encoded, err := EncodeCommands(cmds)
		if err != nil {
			t.Fatalf("decoder accepted commands that do not encode: %v\nbody %q", err, body)
		}
		again, err := DecodeCommands(encoded)
		if err != nil {
			t.Fatalf("re-encoded commands do not decode: %v\nbody %q\nre-encoded %s", err, body, encoded)
		}
		if len(again) != len(cmds) {
			t.Fatalf("%d commands decoded, %d after a round trip", len(cmds), len(again))
		}
		// The encoding is deterministic, so equal encodings mean equal
		// commands (times compare by instant and offset, not by *Location).
		if reencoded, err := EncodeCommands(again); err != nil || !bytes.Equal(reencoded, encoded) {
			t.Fatalf("round trip changed the commands:\nfirst  %s\nsecond %s (err %v)\nbody %q", encoded, reencoded, err, body)
		}
	})
}

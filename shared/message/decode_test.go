package message

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/orderq/orderq/shared/orderstatus"
)

func TestDecodeCommandsRefuses(t *testing.T) {
	const cmd = `{"kind":"stock","id":"0190a0b2-7c4e-7d3a-9f10-2b3c4d5e6f70","item_id":7,"accepted_at":"2026-11-22T03:00:00Z","delta":-5}`
	good := fmt.Sprintf(`{"v":%d,"commands":[%s]}`, Version, cmd)
	if _, err := DecodeCommands([]byte(good)); err != nil {
		t.Fatalf("a good body: %v", err)
	}
	for name, body := range map[string]string{
		"empty":            ``,
		"not json":         `not json`,
		"array":            `[` + good + `]`,
		"trailing data":    good + ` {}`,
		"trailing garbage": good + `x`,
		"unknown field":    fmt.Sprintf(`{"v":%d,"commands":[%s],"extra":1}`, Version, cmd),
		"unknown in a cmd": fmt.Sprintf(`{"v":%d,"commands":[%s]}`, Version, cmd[:len(cmd)-1]+`,"x":1}`),
		"wrong type":       fmt.Sprintf(`{"v":"%d","commands":[%s]}`, Version, cmd),
		"other version":    fmt.Sprintf(`{"v":%d,"commands":[%s]}`, Version+1, cmd),
		"no commands":      fmt.Sprintf(`{"v":%d,"commands":[]}`, Version),
		"truncated":        good[:len(good)-2],
		"invalid utf-8":    fmt.Sprintf(`{"v":%d,"commands":[%s]}`, Version, cmd[:len(cmd)-1]+`,"customer_id":"`+"\xff"+`"}`),
		"number overflow":  fmt.Sprintf(`{"v":%d,"commands":[%s]}`, Version, `{"kind":"stock","id":"0190a0b2-7c4e-7d3a-9f10-2b3c4d5e6f70","item_id":99999999999999999999,"delta":1}`),
		"invalid command":  fmt.Sprintf(`{"v":%d,"commands":[%s]}`, Version, `{"kind":"stock","id":"nope","item_id":7,"delta":1}`),
	} {
		if _, err := DecodeCommands([]byte(body)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestResultsRoundTrip(t *testing.T) {
	reason := "out_of_stock"
	rs := []Result{{Kind: KindOrder, ID: "0190a0b2-7c4e-7d3a-9f10-2b3c4d5e6f70", ItemID: 7,
		Order: &Order{ID: "0190a0b2-7c4e-7d3a-9f10-2b3c4d5e6f70", CustomerID: "c<&>", Status: orderstatus.Rejected, Reason: &reason,
			DisplayStatus: orderstatus.Display{Code: orderstatus.ShowCanceled}}}}
	body, err := EncodeResults(rs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeResults(body)
	if err != nil || len(got) != 1 || got[0].Order == nil || got[0].Order.CustomerID != "c<&>" || *got[0].Order.Reason != reason ||
		got[0].Order.Status != orderstatus.Rejected || got[0].Order.DisplayStatus != rs[0].Order.DisplayStatus {
		t.Fatalf("DecodeResults(%s) = %+v, %v", body, got, err)
	}
	// Messages between the programs carry the display code, not its label.
	if strings.Contains(string(body), `"label"`) {
		t.Errorf("an empty label is encoded: %s", body)
	}
	// A field from a newer worker is ignored; another version is not.
	if _, err := DecodeResults([]byte(fmt.Sprintf(`{"v":%d,"results":[],"new":true}`, Version))); err != nil {
		t.Errorf("unknown field: %v", err)
	}
	if _, err := DecodeResults([]byte(fmt.Sprintf(`{"v":%d,"results":[]}`, Version+1))); !errors.Is(err, ErrMalformed) {
		t.Errorf("other version: %v", err)
	}
}

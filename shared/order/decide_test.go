package order

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderq/orderq/shared/items"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/shard"
)

var batchTime = time.Date(2026, 12, 12, 0, 0, 0, 0, time.UTC)

// item is a test item of stock units, priced 1000 IDR.
func item(id, stock int64, maxPerCustomer int) *items.Row {
	return &items.Row{ID: id, Name: fmt.Sprint("item ", id), Stock: stock, InitialStock: stock, MaxPerCustomer: maxPerCustomer,
		Price: 1000, Currency: "IDR", CreatedAt: batchTime, UpdatedAt: batchTime}
}

// state is a state of one shard (or shards shards) holding its and nothing
// stored else.
func state(shards int, its ...*items.Row) *State {
	s := &State{Shards: shards, Now: batchTime, Items: map[int64]*items.Row{}, Orders: map[string]*Order{},
		Applied: map[string]AppliedCommand{}, Held: map[CustomerItem]int{}, Unpaid: map[string]int{}}
	for _, it := range its {
		s.Items[it.ID] = it
	}
	return s
}

// orderCmd is customer's order of (item, quantity) pairs, decided by one
// shard.
func orderCmd(id, customer string, itemQuantity ...int64) message.Command {
	c := message.Command{Kind: message.KindOrder, ID: id, AcceptedAt: batchTime, CustomerID: customer, Parts: 1}
	for i := 0; i < len(itemQuantity); i += 2 {
		c.Lines = append(c.Lines, message.Line{No: i / 2, ItemID: itemQuantity[i], Quantity: int(itemQuantity[i+1])})
	}
	return c
}

// ids are fixed order ids, by name.
func oid(name string) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte(name)).String()
}

// outcome is an order's status and reason, and its lines', as a string.
func outcome(o *Order) string {
	s := string(o.Status)
	if o.Reason != nil {
		s += "/" + *o.Reason
	}
	for _, l := range o.Lines {
		s += " " + string(l.Status)
		if l.Reason != nil {
			s += "/" + *l.Reason
		}
	}
	return s
}

func TestDecide(t *testing.T) {
	t.Parallel()
	stock := func(delta, set *int64) message.Command {
		return message.Command{Kind: message.KindStock, ID: oid("stock"), ItemID: 1, Delta: delta, Set: set}
	}
	n := func(v int64) *int64 { return &v }
	tests := []struct {
		name  string
		state func() *State
		cmds  []message.Command
		want  map[string]string // order name → outcome
		stock map[int64]int64   // item → stock after
		err   string            // of a stock change, by id
	}{
		{
			name:  "first come, first served: a later order gets what is left",
			state: func() *State { return state(1, item(1, 2, 0)) },
			cmds:  []message.Command{orderCmd(oid("a"), "c1", 1, 1), orderCmd(oid("b"), "c2", 1, 2), orderCmd(oid("c"), "c3", 1, 1)},
			want: map[string]string{"a": "confirmed reserved", "b": "rejected/out_of_stock rejected/out_of_stock",
				"c": "confirmed reserved"},
			stock: map[int64]int64{1: 0},
		},
		{
			name:  "sold out: every later order is rejected",
			state: func() *State { return state(1, item(1, 1, 0)) },
			cmds:  []message.Command{orderCmd(oid("a"), "c1", 1, 1), orderCmd(oid("b"), "c2", 1, 1)},
			want:  map[string]string{"a": "confirmed reserved", "b": "rejected/out_of_stock rejected/out_of_stock"},
			stock: map[int64]int64{1: 0},
		},
		{
			name: "max_per_customer counts what the customer holds and what the batch gave them",
			state: func() *State {
				s := state(1, item(1, 10, 3))
				s.Held[CustomerItem{"c1", 1}] = 1
				return s
			},
			cmds: []message.Command{orderCmd(oid("a"), "c1", 1, 1), orderCmd(oid("b"), "c1", 1, 2),
				orderCmd(oid("c"), "c1", 1, 1), orderCmd(oid("d"), "c2", 1, 3)},
			want: map[string]string{"a": "confirmed reserved", "b": "rejected/limit_exceeded rejected/limit_exceeded",
				"c": "confirmed reserved", "d": "confirmed reserved"},
			stock: map[int64]int64{1: 5},
		},
		{
			name:  "a cart is all or nothing: one short line rejects it, and nothing is taken",
			state: func() *State { return state(1, item(1, 5, 0), item(2, 1, 0)) },
			cmds:  []message.Command{orderCmd(oid("a"), "c1", 1, 2, 2, 2), orderCmd(oid("b"), "c2", 1, 5, 2, 1)},
			want:  map[string]string{"a": "rejected/out_of_stock rejected rejected/out_of_stock", "b": "confirmed reserved reserved"},
			stock: map[int64]int64{1: 0, 2: 0},
		},
		{
			name:  "an unknown or deleted item",
			state: func() *State { it := item(2, 5, 0); it.DeletedAt = &batchTime; return state(1, it) },
			cmds:  []message.Command{orderCmd(oid("a"), "c1", 1, 1), orderCmd(oid("b"), "c1", 2, 1)},
			want:  map[string]string{"a": "rejected/item_not_found rejected/item_not_found", "b": "rejected/item_not_found rejected/item_not_found"},
			stock: map[int64]int64{2: 5},
		},
		{
			name: "a cart's lines are priced in one currency",
			state: func() *State {
				usd := item(2, 5, 0)
				usd.Currency = "USD"
				return state(1, item(1, 5, 0), usd)
			},
			cmds:  []message.Command{orderCmd(oid("a"), "c1", 1, 1, 2, 1)},
			want:  map[string]string{"a": "rejected/currency_mismatch rejected rejected/currency_mismatch"},
			stock: map[int64]int64{1: 5, 2: 5},
		},
		{
			name: "the cap on unpaid orders, counting those the batch confirms",
			state: func() *State {
				s := state(1, item(1, 10, 0))
				s.MaxUnpaid = 2
				s.Unpaid["c1"] = 1
				return s
			},
			cmds:  []message.Command{orderCmd(oid("a"), "c1", 1, 1), orderCmd(oid("b"), "c1", 1, 1)},
			want:  map[string]string{"a": "confirmed reserved", "b": "rejected/unpaid_limit rejected/unpaid_limit"},
			stock: map[int64]int64{1: 9},
		},
		{
			name:  "stock changes: by a delta, to a value, refused below zero",
			state: func() *State { return state(1, item(1, 3, 0)) },
			cmds: []message.Command{stock(n(2), nil), {Kind: message.KindStock, ID: oid("set"), ItemID: 1, Set: n(1)},
				{Kind: message.KindStock, ID: oid("below"), ItemID: 1, Delta: n(-2)}},
			stock: map[int64]int64{1: 1},
			err:   oid("below"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := tt.state()
			initial := map[int64]int64{}
			for id, it := range s.Items {
				initial[id] = it.Stock
			}
			d, err := Decide(s, tt.cmds)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			for name, want := range tt.want {
				o := s.Orders[oid(name)]
				if o == nil {
					t.Fatalf("order %s not decided", name)
				}
				if got := outcome(o); got != want {
					t.Errorf("order %s: %s, want %s", name, got, want)
				}
			}
			if len(d.New) != len(tt.want) {
				t.Errorf("%d new orders, want %d", len(d.New), len(tt.want))
			}
			for id, want := range tt.stock {
				if got := s.Items[id].Stock; got != want {
					t.Errorf("item %d: stock %d, want %d", id, got, want)
				}
			}
			checkLedger(t, s, d, initial)
			for _, r := range d.Results {
				if r.Kind == message.KindStock && (r.Error != "") != (r.ID == tt.err) {
					t.Errorf("stock change %s: error %q", r.ID, r.Error)
				}
			}
		})
	}
}

// checkLedger checks that every item's stock is its stock before the batch
// plus the batch's movements, and never below zero.
func checkLedger(t *testing.T, s *State, d *Decision, before map[int64]int64) {
	t.Helper()
	moved := map[int64]int64{}
	for _, m := range d.Movements {
		moved[m.ItemID] += m.Delta
	}
	for id, it := range s.Items {
		if it.Stock < 0 {
			t.Errorf("item %d: stock %d below zero", id, it.Stock)
		}
		if before[id]+moved[id] != it.Stock {
			t.Errorf("item %d: stock %d before, %d moved, %d after", id, before[id], moved[id], it.Stock)
		}
	}
}

func TestDecideCartAcrossShards(t *testing.T) {
	t.Parallel()
	const shards = 4
	a, b := int64(1), int64(2)
	for shard.Of(b, shards) == shard.Of(a, shards) {
		b++
	}
	home := state(shards, item(a, 5, 0))
	cart := orderCmd(oid("cart"), "c1", a, 2, b, 3)
	cart.Parts = 2
	d, err := Decide(home, []message.Command{cart})
	if err != nil {
		t.Fatal(err)
	}
	o := home.Orders[cart.ID]
	if got := outcome(o); got != "pending reserved pending" || o.PartsDone != 1 {
		t.Fatalf("after its home part: %s, %d parts done", got, o.PartsDone)
	}
	if len(d.Outbox) != 1 || d.Outbox[0].Kind != message.KindOrderPart || len(d.Outbox[0].Lines) != 1 ||
		d.Outbox[0].Lines[0] != (message.Line{No: 1, ItemID: b, Quantity: 3}) {
		t.Fatalf("outbox %+v, want the part of item %d", d.Outbox, b)
	}

	// The other shard finds too little: the order is rejected, and the home
	// line's stock is released through its shard.
	other := state(shards, item(b, 1, 0))
	other.Orders[cart.ID] = o.Clone()
	d, err = Decide(other, d.Outbox)
	if err != nil {
		t.Fatal(err)
	}
	o = other.Orders[cart.ID]
	if got := outcome(o); got != "rejected/out_of_stock reserved rejected/out_of_stock" || o.Total != nil {
		t.Fatalf("after the last part: %s, total %v", got, o.Total)
	}
	if len(d.Changed) != 1 || len(d.New) != 0 {
		t.Errorf("changed %d, new %d: want the stored order changed", len(d.Changed), len(d.New))
	}
	if len(d.Outbox) != 1 || d.Outbox[0].Kind != message.KindRelease || d.Outbox[0].Lines[0].ItemID != a {
		t.Fatalf("outbox %+v, want the release of item %d", d.Outbox, a)
	}
	release := d.Outbox[0]

	// The release gives the units back once, however often it comes.
	home.Orders[cart.ID] = o.Clone()
	for range 2 {
		if _, err := Decide(home, []message.Command{release}); err != nil {
			t.Fatal(err)
		}
	}
	if got := outcome(home.Orders[cart.ID]); got != "rejected/out_of_stock released rejected/out_of_stock" || home.Items[a].Stock != 5 {
		t.Errorf("after the release: %s, stock %d; want released, stock 5", got, home.Items[a].Stock)
	}
}

func TestDecideRefusesCommandsOfUnknownOrders(t *testing.T) {
	t.Parallel()
	for _, kind := range []message.Kind{message.KindOrderPart, message.KindRelease} {
		c := message.Command{Kind: kind, ID: oid("gone"), CustomerID: "c1", Parts: 2, Lines: []message.Line{{No: 1, ItemID: 1, Quantity: 1}}}
		if _, err := Decide(state(1, item(1, 1, 0)), []message.Command{c}); err == nil {
			t.Errorf("%s of an unknown order: decided", kind)
		}
	}
}

// TestDecideProperties decides many random batches on one shard and holds
// each to the rules: no stock below zero and the ledger balances; orders are
// served first come, first served; no customer holds more of an item than
// its max_per_customer; a cart is confirmed whole or not at all; and the
// batch decided again (a redelivery) changes nothing and answers the same.
func TestDecideProperties(t *testing.T) {
	t.Parallel()
	for seed := range uint64(3000) {
		r := rand.New(rand.NewPCG(seed, 12))
		checkBatch(t, fmt.Sprint("seed ", seed), func(n int) int { return r.IntN(n) })
	}
}

// FuzzDecide is TestDecideProperties with batches the fuzzer makes.
func FuzzDecide(f *testing.F) {
	f.Add([]byte{3, 1, 2, 0, 4, 1, 9, 9, 9})
	f.Add([]byte{0, 0, 0, 0, 0, 0})
	f.Add(binary.LittleEndian.AppendUint64(nil, 0xdeadbeefcafe))
	f.Fuzz(func(t *testing.T, data []byte) {
		i := 0
		checkBatch(t, fmt.Sprintf("%x", data), func(n int) int {
			if i >= len(data) {
				return 0
			}
			i++
			return int(data[i-1]) % n
		})
	})
}

// checkBatch draws a batch with pick (a number below its argument) and
// checks Decide's properties on it.
func checkBatch(t *testing.T, name string, pick func(int) int) {
	t.Helper()
	s := state(1)
	nItems := 1 + pick(3)
	for id := int64(1); id <= int64(nItems); id++ {
		s.Items[id] = item(id, int64(pick(6)), pick(4))
	}
	s.MaxUnpaid = pick(4)
	customers := []string{"c1", "c2", "c3"}
	for _, c := range customers {
		if s.MaxUnpaid > 0 {
			s.Unpaid[c] = pick(s.MaxUnpaid + 1)
		}
		for id := range s.Items {
			if s.Items[id].MaxPerCustomer > 0 {
				s.Held[CustomerItem{c, id}] = pick(s.Items[id].MaxPerCustomer + 1)
			}
		}
	}
	var cmds []message.Command
	for n := range 1 + pick(8) {
		var lines []int64
		used := map[int64]bool{}
		for range 1 + pick(3) {
			// One item a line, and now and then one that does not exist.
			id := int64(1 + pick(nItems+1))
			if used[id] {
				continue
			}
			used[id] = true
			lines = append(lines, id, int64(1+pick(3)))
		}
		cmds = append(cmds, orderCmd(oid(fmt.Sprint(name, n)), customers[pick(len(customers))], lines...))
	}

	before := map[int64]int64{}
	for id, it := range s.Items {
		before[id] = it.Stock
	}
	held, unpaid := maps.Clone(s.Held), maps.Clone(s.Unpaid)
	d, err := Decide(s, cmds)
	if err != nil {
		t.Fatalf("%s: Decide: %v", name, err)
	}
	checkLedger(t, s, d, before)

	holds, confirmed := maps.Clone(held), map[string]int{}
	for i, c := range cmds {
		o := s.Orders[c.ID]
		if o == nil || o.Status == orderstatus.Pending {
			t.Fatalf("%s: order %d not decided", name, i)
		}
		// All or nothing.
		reserved := 0
		for _, l := range o.Lines {
			if l.Status == orderstatus.Reserved {
				reserved++
			}
		}
		if (o.Status == orderstatus.Confirmed) != (reserved == len(o.Lines)) || (o.Status == orderstatus.Rejected && reserved != 0) {
			t.Errorf("%s: order %d %s", name, i, outcome(o))
		}
		if o.Status == orderstatus.Confirmed {
			for _, l := range o.Lines {
				holds[CustomerItem{o.CustomerID, l.ItemID}] += l.Quantity
			}
			confirmed[o.CustomerID]++
		}
		// First come, first served: a single-line order refused for want of
		// stock means no later order of at least as many units of its item
		// was confirmed.
		if o.Reason != nil && *o.Reason == message.ReasonOutOfStock && len(o.Lines) == 1 {
			for j := i + 1; j < len(cmds); j++ {
				later := s.Orders[cmds[j].ID]
				for _, l := range later.Lines {
					if l.ItemID == o.Lines[0].ItemID && l.Quantity >= o.Lines[0].Quantity && later.Status == orderstatus.Confirmed {
						t.Errorf("%s: order %d of %d units confirmed after order %d of %d was out of stock",
							name, j, l.Quantity, i, o.Lines[0].Quantity)
					}
				}
			}
		}
	}
	// max_per_customer, and the cap on unpaid orders: the customers held
	// no more than either allows before the batch, nor do they after.
	for k, n := range holds {
		if it := s.Items[k.Item]; it.MaxPerCustomer > 0 && n > it.MaxPerCustomer {
			t.Errorf("%s: %s holds %d of item %d, past its max of %d", name, k.Customer, n, k.Item, it.MaxPerCustomer)
		}
	}
	for c, n := range confirmed {
		if s.MaxUnpaid > 0 && unpaid[c]+n > s.MaxUnpaid {
			t.Errorf("%s: %s held %d unpaid orders and got %d more, past the cap of %d", name, c, unpaid[c], n, s.MaxUnpaid)
		}
	}

	// Redelivered: the orders are stored now, and the same commands change
	// nothing and answer the same states.
	after := map[int64]int64{}
	for id, it := range s.Items {
		after[id] = it.Stock
	}
	answered := map[string]string{}
	for _, o := range s.Orders {
		answered[o.ID] = outcome(o)
	}
	again, err := Decide(s, cmds)
	if err != nil {
		t.Fatalf("%s: Decide again: %v", name, err)
	}
	if len(again.New) != 0 || len(again.Changed) != 0 || len(again.Movements) != 0 || len(again.Outbox) != 0 {
		t.Errorf("%s: decided again: %d new, %d changed, %d movements, %d outbox", name,
			len(again.New), len(again.Changed), len(again.Movements), len(again.Outbox))
	}
	for id, it := range s.Items {
		if it.Stock != after[id] {
			t.Errorf("%s: decided again, item %d went from %d to %d", name, id, after[id], it.Stock)
		}
	}
	seen := map[string]bool{}
	for _, r := range again.Results {
		if r.Order == nil || seen[r.ID] {
			t.Fatalf("%s: decided again: result %+v", name, r)
		}
		seen[r.ID] = true
		if got := outcome(s.Orders[r.ID]); got != answered[r.ID] {
			t.Errorf("%s: order %s answered %s, then %s", name, r.ID, answered[r.ID], got)
		}
	}
	if len(seen) != len(cmds) {
		t.Errorf("%s: decided again, %d results for %d orders", name, len(seen), len(cmds))
	}
}

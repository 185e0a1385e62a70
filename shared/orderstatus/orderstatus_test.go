package orderstatus

import (
	"slices"
	"testing"
)

// TestCode goes through the display table row by row, each with the units
// of an order in mixed states: the statuses given are those its units are in.
func TestCode(t *testing.T) {
	tests := []struct {
		name  string
		order Status
		units []LineStatus
		want  string
	}{
		// Pending: whatever its lines.
		{"pending", Pending, []LineStatus{LinePending}, ShowProcessing},
		{"pending cart, one part reserved", Pending, []LineStatus{Reserved, LinePending}, ShowProcessing},
		// Menunggu Pembayaran.
		{"confirmed awaits payment", Confirmed, []LineStatus{Reserved}, ShowAwaitingPayment},
		{"awaiting payment", AwaitingPayment, []LineStatus{Reserved}, ShowAwaitingPayment},
		// Sudah Dibayar & Aktif, Transit for Outbound: Pesanan Dikirim.
		{"paid, one unit in transit, the others reserved", Paid, []LineStatus{Reserved, TransitForOutbound}, ShowShipped},
		{"paid, units in transit and rented", Paid, []LineStatus{RentInProgress, TransitForOutbound}, ShowShipped},
		{"active, every unit in transit", Active, []LineStatus{TransitForOutbound}, ShowShipped},
		{"active: transit wins over rent and cleaning (the design's example)", Active,
			[]LineStatus{TransitForOutbound, RentInProgress, PreparingAndCleaning}, ShowShipped},
		{"active, in transit and reserved", Active, []LineStatus{Reserved, TransitForOutbound}, ShowShipped},
		// Aktif, Rent in Progress: Pesanan Aktif.
		{"active, every unit rented", Active, []LineStatus{RentInProgress}, ShowActive},
		{"active: rent wins over cleaning", Active, []LineStatus{PreparingAndCleaning, RentInProgress}, ShowActive},
		{"active, rented, cleaning and reserved", Active, []LineStatus{Reserved, RentInProgress, PreparingAndCleaning}, ShowActive},
		// Selesai & Aktif, Preparing & Cleaning: Selesai.
		{"fulfilled", Fulfilled, []LineStatus{PreparingAndCleaning}, ShowCompleted},
		{"fulfilled with units left behind", Fulfilled, []LineStatus{RentInProgress, PreparingAndCleaning}, ShowCompleted},
		{"active, every unit cleaning", Active, []LineStatus{PreparingAndCleaning}, ShowCompleted},
		// Dibatalkan.
		{"canceled", Canceled, []LineStatus{Released}, ShowCanceled},
		{"canceled wins over unit states", Canceled, []LineStatus{TransitForOutbound, Released}, ShowCanceled},
		{"rejected", Rejected, []LineStatus{LineRejected}, ShowCanceled},
		{"rejected cart, one part released", Rejected, []LineStatus{Released, LineRejected}, ShowCanceled},
		// The rows between: paid, nothing shipped yet; active in mixed
		// fulfilment with nothing rented or in transit.
		{"paid, nothing shipped yet", Paid, []LineStatus{Reserved}, ShowProcessing},
		{"paid, a unit cleaning, none in transit or rented", Paid, []LineStatus{Reserved, PreparingAndCleaning}, ShowProcessing},
		{"active, one unit cleaning, one still reserved", Active, []LineStatus{PreparingAndCleaning, Reserved}, ShowActive},
		{"active, nothing shipped yet", Active, []LineStatus{Reserved}, ShowActive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Code(tt.order, tt.units); got != tt.want {
				t.Errorf("Code(%s, %v) = %s, want %s", tt.order, tt.units, got, tt.want)
			}
		})
	}
	// Every row of the table is reached by some case above.
	reached := map[string]bool{}
	for _, tt := range tests {
		reached[tt.want] = true
	}
	for _, code := range Codes {
		if !reached[code] {
			t.Errorf("no case shows %s", code)
		}
	}
}

// TestFulfilment checks the unit statuses' table: each status, precedence
// and stored code once.
func TestFulfilment(t *testing.T) {
	statuses, codes, precedences := map[LineStatus]bool{}, map[byte]bool{}, map[int]bool{}
	for _, f := range fulfilment {
		if statuses[f.Status] || codes[f.Code] || f.Precedence != 0 && precedences[f.Precedence] {
			t.Errorf("%+v repeats a status, code or precedence", f)
		}
		statuses[f.Status], codes[f.Code], precedences[f.Precedence] = true, true, true
		if c, ok := UnitCode(f.Status); !ok || c != f.Code {
			t.Errorf("UnitCode(%s) = %q, %v; want %q", f.Status, c, ok, f.Code)
		}
		if s, ok := UnitStatus(f.Code); !ok || s != f.Status {
			t.Errorf("UnitStatus(%q) = %s, %v; want %s", f.Code, s, ok, f.Status)
		}
	}
	for _, s := range []LineStatus{LinePending, LineRejected, Released} {
		if _, ok := UnitCode(s); ok {
			t.Errorf("%s has a unit code: no unit is in it", s)
		}
	}
	if s, ok := UnitStatus('?'); ok {
		t.Errorf("UnitStatus('?') = %s, want none", s)
	}
	tests := []struct {
		units []LineStatus
		want  LineStatus
	}{
		{[]LineStatus{RentInProgress, TransitForOutbound, PreparingAndCleaning}, TransitForOutbound},
		{[]LineStatus{PreparingAndCleaning, Reserved}, Reserved},
		{[]LineStatus{RentInProgress}, RentInProgress},
	}
	for _, tt := range tests {
		if got := Earliest(tt.units); got != tt.want {
			t.Errorf("Earliest(%v) = %s, want %s", tt.units, got, tt.want)
		}
	}
}

func TestLabels(t *testing.T) {
	tests := []struct {
		order      Status
		lang, want string
	}{
		{Pending, "id", "Sedang Diproses"},
		{AwaitingPayment, "id", "Menunggu Pembayaran"},
		{Canceled, "id", "Dibatalkan"},
		{Fulfilled, "id", "Selesai"},
		{Pending, "en", "Processing"},
		{Canceled, "xx", "Dibatalkan"},
	}
	for _, tt := range tests {
		if got := Label(Code(tt.order, nil), tt.lang); got != tt.want {
			t.Errorf("the label of %s in %s: %q, want %q", tt.order, tt.lang, got, tt.want)
		}
	}
	for _, code := range Codes {
		for lang := range labels {
			if Label(code, lang) == "" {
				t.Errorf("no %s label for %s", lang, code)
			}
		}
	}
}

func TestLang(t *testing.T) {
	tests := []struct{ explicit, header, want string }{
		{"en", "id", "en"},
		{"", "en-US,en;q=0.9", "en"},
		{"", "fr-FR, id;q=0.5", "id"},
		{"", "", "id"},
		{"xx", "de", "id"},
	}
	for _, tt := range tests {
		if got := Lang(tt.explicit, tt.header); got != tt.want {
			t.Errorf("Lang(%q, %q) = %s, want %s", tt.explicit, tt.header, got, tt.want)
		}
	}
}

func TestTransitions(t *testing.T) {
	allowed := [][2]Status{
		{Confirmed, AwaitingPayment}, {Confirmed, Paid}, {Confirmed, Canceled},
		{AwaitingPayment, Paid}, {AwaitingPayment, Canceled},
		{Paid, Active}, {Paid, Canceled}, {Active, Fulfilled},
	}
	for _, m := range allowed {
		if !CanMove(m[0], m[1]) {
			t.Errorf("%s → %s refused", m[0], m[1])
		}
	}
	forbidden := [][2]Status{
		{Pending, Confirmed}, {Pending, Canceled}, {Rejected, Confirmed}, {Rejected, Canceled},
		{Active, Canceled}, {Fulfilled, Active}, {Canceled, Paid}, {Paid, AwaitingPayment},
		{AwaitingPayment, Active}, {Active, Paid}, {Confirmed, Fulfilled}, {Paid, Paid},
	}
	for _, m := range forbidden {
		if CanMove(m[0], m[1]) {
			t.Errorf("%s → %s allowed", m[0], m[1])
		}
	}
	type unitMove struct {
		order    Status
		from, to LineStatus
	}
	unitAllowed := []unitMove{
		{Paid, Reserved, TransitForOutbound}, {Active, TransitForOutbound, RentInProgress},
		{Active, RentInProgress, PreparingAndCleaning},
		// Forward, skipping a step: a unit handed over in the shop.
		{Active, Reserved, RentInProgress}, {Paid, TransitForOutbound, PreparingAndCleaning},
	}
	for _, m := range unitAllowed {
		if !CanMoveUnit(m.order, m.from, m.to) {
			t.Errorf("unit %s → %s under %s refused", m.from, m.to, m.order)
		}
	}
	unitForbidden := []unitMove{
		{AwaitingPayment, Reserved, TransitForOutbound}, {Confirmed, Reserved, TransitForOutbound},
		{Canceled, Reserved, TransitForOutbound}, {Fulfilled, RentInProgress, PreparingAndCleaning},
		{Active, Released, TransitForOutbound}, {Active, LineRejected, TransitForOutbound},
		{Active, LinePending, TransitForOutbound},
		// Backwards, or nowhere.
		{Active, PreparingAndCleaning, Reserved}, {Active, RentInProgress, TransitForOutbound},
		{Active, RentInProgress, RentInProgress},
		// Out of fulfilment: stock is given back by releases only.
		{Paid, Reserved, Released}, {Paid, Reserved, LineRejected}, {Active, Reserved, "lost"},
	}
	for _, m := range unitForbidden {
		if CanMoveUnit(m.order, m.from, m.to) {
			t.Errorf("unit %s → %s under %s allowed", m.from, m.to, m.order)
		}
	}
}

func TestHolds(t *testing.T) {
	holds := map[LineStatus]bool{
		LinePending: false, Reserved: true, LineRejected: false, Released: false,
		TransitForOutbound: true, RentInProgress: true, PreparingAndCleaning: true,
	}
	if len(holds) != len(LineStatuses) {
		t.Fatalf("%d line statuses here, %d in LineStatuses", len(holds), len(LineStatuses))
	}
	for _, st := range LineStatuses {
		want, ok := holds[st]
		if !ok {
			t.Errorf("line status %s not covered", st)
		}
		if got := Holds(st); got != want {
			t.Errorf("Holds(%s) = %v, want %v", st, got, want)
		}
		if got := slices.Contains(HoldingStatuses, st); got != want {
			t.Errorf("%s in HoldingStatuses: %v, want %v", st, got, want)
		}
	}
}

func TestFinal(t *testing.T) {
	for _, st := range []Status{Pending, Confirmed, Rejected, AwaitingPayment, Paid, Active, Fulfilled, Canceled} {
		if got, want := st.Final(), st != Pending; got != want {
			t.Errorf("%s.Final() = %v, want %v", st, got, want)
		}
	}
}

package orderstatus

import (
	"slices"
	"testing"
)

func TestCode(t *testing.T) {
	tests := []struct {
		name  string
		order Status
		lines []LineStatus
		want  string
	}{
		{"pending", Pending, []LineStatus{LinePending}, ShowProcessing},
		{"confirmed awaits payment", Confirmed, []LineStatus{Reserved}, ShowAwaitingPayment},
		{"awaiting payment", AwaitingPayment, []LineStatus{Reserved, Reserved}, ShowAwaitingPayment},
		{"paid, one line in transit", Paid, []LineStatus{Reserved, TransitForOutbound}, ShowShipped},
		{"active, in transit", Active, []LineStatus{TransitForOutbound}, ShowShipped},
		{"active, rented", Active, []LineStatus{RentInProgress, RentInProgress}, ShowActive},
		{"fulfilled", Fulfilled, []LineStatus{PreparingAndCleaning}, ShowCompleted},
		{"active, every line cleaning", Active, []LineStatus{PreparingAndCleaning, PreparingAndCleaning}, ShowCompleted},
		{"canceled", Canceled, []LineStatus{Released}, ShowCanceled},
		{"rejected", Rejected, []LineStatus{LineRejected}, ShowCanceled},
		{"rejected cart, one part released", Rejected, []LineStatus{Released, LineRejected}, ShowCanceled},
		{"mixed units: transit wins over rent and cleaning", Active,
			[]LineStatus{TransitForOutbound, RentInProgress, PreparingAndCleaning}, ShowShipped},
		{"mixed units: rent wins over cleaning", Active, []LineStatus{PreparingAndCleaning, RentInProgress}, ShowActive},
		{"active, one line cleaning, one still reserved", Active, []LineStatus{PreparingAndCleaning, Reserved}, ShowActive},
		{"paid, nothing shipped yet", Paid, []LineStatus{Reserved}, ShowProcessing},
		{"canceled wins over line states", Canceled, []LineStatus{TransitForOutbound}, ShowCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Code(tt.order, tt.lines); got != tt.want {
				t.Errorf("Code(%s, %v) = %s, want %s", tt.order, tt.lines, got, tt.want)
			}
		})
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
	type lineMove struct {
		order    Status
		from, to LineStatus
	}
	lineAllowed := []lineMove{
		{Paid, Reserved, TransitForOutbound}, {Active, TransitForOutbound, RentInProgress},
		{Active, RentInProgress, PreparingAndCleaning},
	}
	for _, m := range lineAllowed {
		if !CanMoveLine(m.order, m.from, m.to) {
			t.Errorf("line %s → %s under %s refused", m.from, m.to, m.order)
		}
	}
	lineForbidden := []lineMove{
		{AwaitingPayment, Reserved, TransitForOutbound}, {Canceled, Reserved, TransitForOutbound},
		{Active, Released, TransitForOutbound}, {Active, Reserved, RentInProgress},
		{Active, PreparingAndCleaning, Reserved}, {Paid, Reserved, Released},
		{Active, LineRejected, TransitForOutbound}, {Paid, Reserved, LineRejected},
	}
	for _, m := range lineForbidden {
		if CanMoveLine(m.order, m.from, m.to) {
			t.Errorf("line %s → %s under %s allowed", m.from, m.to, m.order)
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

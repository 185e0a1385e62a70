package orderstatus

import (
	"slices"
	"testing"
)

func TestCode(t *testing.T) {
	tests := []struct {
		name  string
		order string
		lines []string
		want  string
	}{
		{"pending", Pending, []string{LinePending}, ShowProcessing},
		{"confirmed awaits payment", Confirmed, []string{Reserved}, ShowAwaitingPayment},
		{"awaiting payment", AwaitingPayment, []string{Reserved, Reserved}, ShowAwaitingPayment},
		{"paid, one line in transit", Paid, []string{Reserved, TransitForOutbound}, ShowShipped},
		{"active, in transit", Active, []string{TransitForOutbound}, ShowShipped},
		{"active, rented", Active, []string{RentInProgress, RentInProgress}, ShowActive},
		{"fulfilled", Fulfilled, []string{PreparingAndCleaning}, ShowCompleted},
		{"active, every line cleaning", Active, []string{PreparingAndCleaning, PreparingAndCleaning}, ShowCompleted},
		{"canceled", Canceled, []string{Released}, ShowCanceled},
		{"rejected", Rejected, []string{LineRejected}, ShowCanceled},
		{"rejected cart, one part released", Rejected, []string{Released, LineRejected}, ShowCanceled},
		{"mixed units: transit wins over rent and cleaning", Active,
			[]string{TransitForOutbound, RentInProgress, PreparingAndCleaning}, ShowShipped},
		{"mixed units: rent wins over cleaning", Active, []string{PreparingAndCleaning, RentInProgress}, ShowActive},
		{"active, one line cleaning, one still reserved", Active, []string{PreparingAndCleaning, Reserved}, ShowActive},
		{"paid, nothing shipped yet", Paid, []string{Reserved}, ShowProcessing},
		{"canceled wins over line states", Canceled, []string{TransitForOutbound}, ShowCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Code(tt.order, tt.lines); got != tt.want {
				t.Errorf("Code(%s, %v) = %s, want %s", tt.order, tt.lines, got, tt.want)
			}
		})
	}
}

func TestDeriveLabels(t *testing.T) {
	tests := []struct {
		order, lang, want string
	}{
		{Pending, "id", "Sedang Diproses"},
		{AwaitingPayment, "id", "Menunggu Pembayaran"},
		{Canceled, "id", "Dibatalkan"},
		{Fulfilled, "id", "Selesai"},
		{Pending, "en", "Processing"},
		{Canceled, "xx", "Dibatalkan"},
	}
	for _, tt := range tests {
		if got := Derive(tt.order, nil, tt.lang).Label; got != tt.want {
			t.Errorf("Derive(%s, %s) label %q, want %q", tt.order, tt.lang, got, tt.want)
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
	allowed := [][2]string{
		{Confirmed, AwaitingPayment}, {Confirmed, Paid}, {Confirmed, Canceled},
		{AwaitingPayment, Paid}, {AwaitingPayment, Canceled},
		{Paid, Active}, {Paid, Canceled}, {Active, Fulfilled},
	}
	for _, m := range allowed {
		if !CanMove(m[0], m[1]) {
			t.Errorf("%s → %s refused", m[0], m[1])
		}
	}
	forbidden := [][2]string{
		{Pending, Confirmed}, {Pending, Canceled}, {Rejected, Confirmed}, {Rejected, Canceled},
		{Active, Canceled}, {Fulfilled, Active}, {Canceled, Paid}, {Paid, AwaitingPayment},
		{AwaitingPayment, Active}, {Active, Paid}, {Confirmed, Fulfilled}, {Paid, Paid},
	}
	for _, m := range forbidden {
		if CanMove(m[0], m[1]) {
			t.Errorf("%s → %s allowed", m[0], m[1])
		}
	}
	lineAllowed := [][3]string{
		{Paid, Reserved, TransitForOutbound}, {Active, TransitForOutbound, RentInProgress},
		{Active, RentInProgress, PreparingAndCleaning},
	}
	for _, m := range lineAllowed {
		if !CanMoveLine(m[0], m[1], m[2]) {
			t.Errorf("line %s → %s under %s refused", m[1], m[2], m[0])
		}
	}
	lineForbidden := [][3]string{
		{AwaitingPayment, Reserved, TransitForOutbound}, {Canceled, Reserved, TransitForOutbound},
		{Active, Released, TransitForOutbound}, {Active, Reserved, RentInProgress},
		{Active, PreparingAndCleaning, Reserved}, {Paid, Reserved, Released},
		{Active, LineRejected, TransitForOutbound}, {Paid, Reserved, LineRejected},
	}
	for _, m := range lineForbidden {
		if CanMoveLine(m[0], m[1], m[2]) {
			t.Errorf("line %s → %s under %s allowed", m[1], m[2], m[0])
		}
	}
}

func TestHolds(t *testing.T) {
	holds := map[string]bool{
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

package report

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Soak is sales run back to back on one stack and one database: a row a sale,
// with the size of the store after it, and how the last sale's throughput
// compares with the first's.
type Soak struct {
	Version int       `json:"version"`
	Header  *Header   `json:"header,omitempty"`
	Crowd   SoakCrowd `json:"crowd"`
	// StoreBefore is the database before the first sale; nil when the
	// database is not read, and StoreNote says why.
	StoreBefore *Store     `json:"store_before,omitempty"`
	StoreNote   string     `json:"store_note,omitempty"`
	Sales       []SoakSale `json:"sales"`
	// Complete is whether every planned sale ran.
	Complete bool `json:"complete"`
	// LastOfFirst is the last sale's final throughput in percent of the
	// first's; nil with fewer than two sales or a first sale of none.
	LastOfFirst *float64 `json:"last_of_first_percent,omitempty"`
	Passed      bool     `json:"passed"`       // every sale kept every invariant
	Failed      []int    `json:"failed_sales"` // the numbers of those that did not
}

// SoakCrowd is the crowd every sale of a soak met.
type SoakCrowd struct {
	Sales           int     `json:"sales"` // planned
	TargetPerSecond float64 `json:"target_per_second"`
	DurationSeconds float64 `json:"duration_seconds"`
	Concurrency     int     `json:"concurrency"` // most orders in flight
	Quantity        int     `json:"quantity"`
	Stock           int64   `json:"stock"` // of each sale's item
	Auth            string  `json:"auth"`
}

// SoakSale is one sale of a soak, and the store after it.
type SoakSale struct {
	Sale             int     `json:"sale"` // from 1
	Item             int64   `json:"item"`
	FinalPerSecond   float64 `json:"final_per_second"`
	Slipped          int     `json:"slipped"`
	AcceptP99        float64 `json:"accept_p99_ms"`
	AcceptToFinalP99 float64 `json:"accept_to_final_p99_ms"`
	Passed           bool    `json:"passed"`
	// Store is the database once the sale was checked; nil when not read,
	// and StoreNote says why.
	Store     *Store  `json:"store,omitempty"`
	StoreNote string  `json:"store_note,omitempty"`
	Run       Summary `json:"run"` // as flashsale --json reports the sale
}

// Store is how big orderq's database is at a moment.
type Store struct {
	Orders int64 `json:"orders"` // rows of orders, counted
	Bytes  int64 `json:"bytes"`  // data and indexes of every table
	// BytesPerOrder is Bytes over Orders; 0 without an order.
	BytesPerOrder float64 `json:"bytes_per_order"`
	Tables        []Table `json:"tables"` // the largest first
}

// Table is one table of the store.
type Table struct {
	Name         string `json:"name"`
	RowsEstimate int64  `json:"rows_estimate"` // InnoDB's, not a count
	DataBytes    int64  `json:"data_bytes"`
	IndexBytes   int64  `json:"index_bytes"`
}

// Bytes is the table's data and indexes.
func (t Table) Bytes() int64 { return t.DataBytes + t.IndexBytes }

// NewStore sums the tables of a store that holds orders orders.
func NewStore(orders int64, tables []Table) *Store {
	s := &Store{Orders: orders, Tables: slices.Clone(tables)}
	for _, t := range tables {
		s.Bytes += t.Bytes()
	}
	if s.Tables == nil {
		s.Tables = []Table{}
	}
	slices.SortStableFunc(s.Tables, func(a, b Table) int {
		return cmp.Or(cmp.Compare(b.Bytes(), a.Bytes()), cmp.Compare(a.Name, b.Name))
	})
	if orders > 0 {
		s.BytesPerOrder = round(float64(s.Bytes)/float64(orders), 1)
	}
	return s
}

// NewSoakSale condenses the summary of sale n and the store after it (nil,
// with note saying why, when it was not read).
func NewSoakSale(n int, s Summary, store *Store, note string) SoakSale {
	sale := SoakSale{
		Sale:             n,
		FinalPerSecond:   s.Throughput.FinalPerSecond,
		AcceptP99:        s.Latency.Accept.P99,
		AcceptToFinalP99: s.Latency.AcceptToFinal.P99,
		Passed:           s.Invariants.Passed,
		Store:            store,
		StoreNote:        note,
		Run:              s,
	}
	if s.Item != nil {
		sale.Item = s.Item.ID
	}
	if s.Schedule != nil {
		sale.Slipped = s.Schedule.Slipped
	}
	return sale
}

// NewSoak lays out the sales that ran of a soak of c.Sales, after a store
// of before (nil, with note saying why, when not read).
func NewSoak(c SoakCrowd, before *Store, note string, sales []SoakSale) Soak {
	s := Soak{Version: Version, Crowd: c, StoreBefore: before, StoreNote: note, Sales: sales,
		Complete: len(sales) == c.Sales, Passed: true, Failed: []int{}}
	if s.Sales == nil {
		s.Sales = []SoakSale{}
	}
	for _, sale := range sales {
		if !sale.Passed {
			s.Passed = false
			s.Failed = append(s.Failed, sale.Sale)
		}
	}
	if len(sales) >= 2 && sales[0].FinalPerSecond > 0 {
		p := round(100*sales[len(sales)-1].FinalPerSecond/sales[0].FinalPerSecond, 1)
		s.LastOfFirst = &p
	}
	return s
}

// WriteJSON writes s as an indented JSON document.
func (s Soak) WriteJSON(w io.Writer) error { return writeJSON(w, s) }

// WriteText writes s for people: WriteSoakHead, a row a sale, WriteEnd.
func (s Soak) WriteText(w io.Writer) error {
	var b strings.Builder
	WriteSoakHead(&b, s.Crowd, s.StoreBefore, s.StoreNote)
	for _, sale := range s.Sales {
		WriteSoakRow(&b, sale, s.StoreNote)
	}
	if err := s.WriteEnd(&b); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// soakColumns lays out a row of the soak's table; the header and every row
// go through it, so that rows printed one at a time, as each sale ends,
// line up.
func soakColumns(sale, final, slipped, accept, toFinal, invariants, orders, bytes, perOrder string) string {
	return fmt.Sprintf("%4s  %9s  %7s  %10s  %16s  %-10s  %9s  %10s  %11s\n",
		sale, final, slipped, accept, toFinal, invariants, orders, bytes, perOrder)
}

// WriteSoakHead writes what every sale of a soak of c met, the store before
// the first, and the header of the rows.
func WriteSoakHead(w io.Writer, c SoakCrowd, before *Store, note string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s back to back, each a new item of stock %d: %g orders/s of quantity %d for %s, at most %d in flight, auth %s\n",
		CountSales(c.Sales), c.Stock, c.TargetPerSecond, c.Quantity, time.Duration(c.DurationSeconds*float64(time.Second)), c.Concurrency, cmp.Or(c.Auth, "none"))
	if before != nil {
		fmt.Fprintf(&b, "store before sale 1: %d orders, %s in every table of the database\n", before.Orders, size(before.Bytes))
	} else {
		fmt.Fprintf(&b, "store not read: %s\n", note)
	}
	b.WriteString("\n")
	b.WriteString(soakColumns("sale", "final/s", "slipped", "accept p99", "accept→final p99", "invariants", "orders", "store", "bytes/order"))
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteSoakRow writes the row of one sale, then, indented, its violations
// and what of the database could not be read after it, unless that is
// dbNote: why the database is not read at all, which the head says once.
func WriteSoakRow(w io.Writer, sale SoakSale, dbNote string) error {
	var b strings.Builder
	verdict := "PASS"
	if !sale.Passed {
		verdict = fmt.Sprintf("FAIL (%d)", len(sale.Run.Invariants.Violations))
	}
	orders, bytes, perOrder := "-", "-", "-"
	if st := sale.Store; st != nil {
		orders, bytes = strconv.FormatInt(st.Orders, 10), size(st.Bytes)
		if st.Orders > 0 {
			perOrder = fmt.Sprintf("%.0f", st.BytesPerOrder)
		}
	}
	b.WriteString(soakColumns(strconv.Itoa(sale.Sale), fmt.Sprintf("%.1f", sale.FinalPerSecond), strconv.Itoa(sale.Slipped),
		millis(sale.AcceptP99), millis(sale.AcceptToFinalP99), verdict, orders, bytes, perOrder))
	for _, v := range sale.Run.Invariants.Violations {
		fmt.Fprintf(&b, "      - %s\n", v)
	}
	if l := sale.Run.Ledger; !l.Checked && l.Note != dbNote {
		fmt.Fprintf(&b, "      ledger not checked: %s\n", l.Note)
	}
	if sale.Store == nil && sale.StoreNote != dbNote {
		fmt.Fprintf(&b, "      store not read: %s\n", sale.StoreNote)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteEnd writes the summary that follows the rows: the last sale's
// throughput against the first's, how the store grew, its largest tables,
// and the invariants.
func (s Soak) WriteEnd(w io.Writer) error {
	var b strings.Builder
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	if !s.Complete {
		fmt.Fprintf(tw, "stopped\tafter %d of %s\n", len(s.Sales), CountSales(s.Crowd.Sales))
	}
	if n := len(s.Sales); n > 0 {
		first, last := s.Sales[0], s.Sales[n-1]
		switch {
		case s.LastOfFirst != nil:
			fmt.Fprintf(tw, "throughput\tsale %d: %.1f final/s, %.1f%% of sale 1's %.1f final/s\n",
				last.Sale, last.FinalPerSecond, *s.LastOfFirst, first.FinalPerSecond)
		default:
			fmt.Fprintf(tw, "throughput\tsale %d: %.1f final/s\n", last.Sale, last.FinalPerSecond)
		}
	}
	if st := s.lastStore(); st != nil {
		growth := fmt.Sprintf("%d orders, %s", st.store.Orders, size(st.store.Bytes))
		if b := s.StoreBefore; b != nil {
			growth = fmt.Sprintf("%d → %d orders, %s → %s", b.Orders, st.store.Orders, size(b.Bytes), size(st.store.Bytes))
		}
		fmt.Fprintf(tw, "store\tafter sale %d: %s, %.0f bytes an order\n", st.sale, growth, st.store.BytesPerOrder)
	} else if s.StoreNote != "" {
		fmt.Fprintf(tw, "store\tnot read: %s\n", s.StoreNote)
	}
	switch {
	case len(s.Sales) == 0:
		fmt.Fprintf(tw, "invariants\tno sale ran\n")
	case s.Passed:
		all := "all "
		if len(s.Sales) == 1 {
			all = ""
		}
		fmt.Fprintf(tw, "invariants\tPASS in %s%s\n", all, CountSales(len(s.Sales)))
	default:
		nums := make([]string, len(s.Failed))
		for i, n := range s.Failed {
			nums[i] = strconv.Itoa(n)
		}
		fmt.Fprintf(tw, "invariants\tFAIL in sales %s (%d of %d)\n", strings.Join(nums, ", "), len(s.Failed), len(s.Sales))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if st := s.lastStore(); st != nil && len(st.store.Tables) > 0 {
		fmt.Fprintf(&b, "\n")
		// Numbers align right; the names, padded to one width, read from the left.
		title := fmt.Sprintf("tables after sale %d", st.sale)
		width := len(title)
		for _, t := range st.store.Tables {
			width = max(width, len(t.Name))
		}
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "%-*s\tdata\tindexes\tall\trows (estimate)\t\n", width, title)
		for _, t := range st.store.Tables {
			fmt.Fprintf(tw, "%-*s\t%s\t%s\t%s\t%d\t\n", width, t.Name, size(t.DataBytes), size(t.IndexBytes), size(t.Bytes()), t.RowsEstimate)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// saleStore is the store after one sale.
type saleStore struct {
	sale  int
	store *Store
}

// lastStore is the store after the last sale it was read after; nil when
// it never was.
func (s Soak) lastStore() *saleStore {
	for i := len(s.Sales) - 1; i >= 0; i-- {
		if st := s.Sales[i].Store; st != nil {
			return &saleStore{s.Sales[i].Sale, st}
		}
	}
	return nil
}

// size writes a count of bytes in binary units.
func size(n int64) string {
	const kib, mib, gib = 1 << 10, 1 << 20, 1 << 30
	switch {
	case n >= 10*gib:
		return fmt.Sprintf("%.2f GiB", float64(n)/gib)
	case n >= mib:
		return fmt.Sprintf("%.1f MiB", float64(n)/mib)
	default:
		return fmt.Sprintf("%.1f KiB", float64(n)/kib)
	}
}

// CountSales says "1 sale" or "n sales".
func CountSales(n int) string {
	if n == 1 {
		return "1 sale"
	}
	return strconv.Itoa(n) + " sales"
}

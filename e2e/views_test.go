package e2e

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/testenv"
)

// TestReportViewsAsDocumented holds docs/api.md's table of the views SQL
// readers read to the schema: every report_ view, each with its columns in
// their order, and nothing else.
func TestReportViewsAsDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## Reading the database\n")
	if !ok {
		t.Fatal("docs/api.md has no section Reading the database")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	row := regexp.MustCompile("(?m)^\\| `(report_\\w+)` \\|[^|]*\\| (.*) \\|$")
	column := regexp.MustCompile("`(\\w+)`")
	documented := map[string][]string{}
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		// A column's description may name values in backquotes, in
		// parentheses after it: only the names outside them are columns.
		cells := regexp.MustCompile(`\([^)]*\)`).ReplaceAllString(m[2], "")
		for _, c := range column.FindAllStringSubmatch(cells, -1) {
			documented[m[1]] = append(documented[m[1]], c[1])
		}
	}

	dsn := testenv.Database(t)
	db, err := database.Open(t.Context(), dsn, slog.New(slog.NewTextHandler(io.Discard, nil)), database.Options{MaxOpenConns: 1})
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	t.Cleanup(func() { database.Close(db) })
	var cols []struct {
		TableName  string
		ColumnName string
	}
	err = db.Raw(`SELECT c.table_name AS table_name, c.column_name AS column_name
		FROM information_schema.columns c JOIN information_schema.views v
		  ON v.table_schema = c.table_schema AND v.table_name = c.table_name
		WHERE c.table_schema = DATABASE() ORDER BY c.table_name, c.ordinal_position`).Scan(&cols).Error
	if err != nil {
		t.Fatal(err)
	}
	views := map[string][]string{}
	for _, c := range cols {
		views[c.TableName] = append(views[c.TableName], c.ColumnName)
	}
	if len(views) == 0 {
		t.Fatal("the schema has no view")
	}
	for name, columns := range views {
		if !strings.HasPrefix(name, "report_") {
			t.Errorf("view %s: SQL readers' views are named report_…", name)
		}
		if !slices.Equal(documented[name], columns) {
			t.Errorf("view %s: columns %v, docs/api.md says %v", name, columns, documented[name])
		}
	}
	for name := range documented {
		if _, ok := views[name]; !ok {
			t.Errorf("docs/api.md documents view %s, which the schema does not have", name)
		}
	}
}

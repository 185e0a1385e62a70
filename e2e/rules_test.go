package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"
)

// The operators' files: Prometheus's configuration and rules, Grafana's
// dashboard, in the repository's deploy/.
var (
	prometheusDir = filepath.Join(repoRoot, "deploy", "prometheus")
	dashboardFile = filepath.Join(repoRoot, "deploy", "grafana", "dashboards", "orderq.json")
)

// promProgram returns the path of one of the programs of Debian's package
// prometheus (prometheus, promtool), which .ci/run installs when promtool is
// missing; a test without it is skipped, except under CI, where it fails.
func promProgram(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed (apt-get install prometheus): %v", name, err)
		}
		t.Skipf("%s is not installed (apt-get install prometheus)", name)
	}
	return path
}

// ruleFiles are the rule files beside the configuration, and testFiles their
// unit tests: every *test*.yml there.
func ruleFiles(t *testing.T) (rules, tests []string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(prometheusDir, "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		switch base := filepath.Base(f); {
		case strings.Contains(base, "test"):
			tests = append(tests, f)
		case base != "prometheus.yml":
			rules = append(rules, f)
		}
	}
	if len(rules) == 0 || len(tests) == 0 {
		t.Fatalf("%s: rule files %v, tests %v; want both", prometheusDir, rules, tests)
	}
	return rules, tests
}

// TestPrometheusRules checks the rules as Prometheus's own tool does, runs
// their unit tests, and checks the configuration docker compose runs.
func TestPrometheusRules(t *testing.T) {
	t.Parallel()
	promtool := promProgram(t, "promtool")
	rules, tests := ruleFiles(t)
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(promtool, args...)
		cmd.Dir = prometheusDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	base := func(files []string) []string {
		var names []string
		for _, f := range files {
			names = append(names, filepath.Base(f))
		}
		return names
	}
	run(append([]string{"check", "rules"}, base(rules)...)...)
	run(append([]string{"test", "rules"}, base(tests)...)...)
	run("check", "config", "prometheus.yml")

	// Every alert is tested: its name appears in a unit test.
	var tested strings.Builder
	for _, f := range tests {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tested.Write(b)
	}
	for _, r := range readRules(t) {
		if r.Alert != "" && !strings.Contains(tested.String(), "alertname: "+r.Alert+"\n") {
			t.Errorf("alert %s has no unit test in %v", r.Alert, base(tests))
		}
	}
}

// rule is one rule of a rule file.
type rule struct {
	File, Group   string
	Record, Alert string
	Expr          string
}

func (r rule) String() string {
	name := r.Record
	if r.Alert != "" {
		name = "alert " + r.Alert
	}
	return filepath.Base(r.File) + ": " + r.Group + ": " + name
}

// readRules returns every rule of the rule files.
func readRules(t *testing.T) []rule {
	t.Helper()
	files, _ := ruleFiles(t)
	var rules []rule
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Groups []struct {
				Name  string
				Rules []struct{ Record, Alert, Expr string }
			}
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, g := range doc.Groups {
			for _, r := range g.Rules {
				rules = append(rules, rule{File: f, Group: g.Name, Record: r.Record, Alert: r.Alert, Expr: r.Expr})
			}
		}
	}
	if len(rules) == 0 {
		t.Fatal("no rules")
	}
	return rules
}

// panelQuery is one query of a dashboard panel.
type panelQuery struct {
	Panel, RefID string
	Expr         string // as Grafana sends it, its variables replaced
	Instant      bool   // a table's query, evaluated at one instant
}

func (q panelQuery) String() string { return "panel " + q.Panel + " query " + q.RefID }

// grafanaVariables are the variables Grafana fills into a query, with the
// value the tests give each: a window long enough for two samples of the
// tests' scrapes.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "1m", "$__interval", "15s", "$__range", "5m")

// dashboard is the part of a dashboard's JSON the tests read.
type dashboard struct {
	Templating struct {
		List []struct{ Name, Type, Query string }
	}
	Panels []dashboardPanel
}

type dashboardPanel struct {
	ID         int
	Type       string
	Title      string
	Datasource *struct{ Type, UID string }
	Targets    []struct {
		RefID      string `json:"refId"`
		Expr       string
		Instant    bool
		Datasource *struct{ Type, UID string }
	}
	Panels []dashboardPanel // a collapsed row's
}

// readDashboard returns the dashboard and every panel in it, rows' included.
func readDashboard(t *testing.T) (dashboard, []dashboardPanel) {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var panels []dashboardPanel
	var walk func([]dashboardPanel)
	walk = func(ps []dashboardPanel) {
		for _, p := range ps {
			panels = append(panels, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return d, panels
}

// dashboardQueries returns every query of every panel of the dashboard.
func dashboardQueries(t *testing.T) []panelQuery {
	t.Helper()
	_, panels := readDashboard(t)
	var qs []panelQuery
	for _, p := range panels {
		for _, target := range p.Targets {
			qs = append(qs, panelQuery{Panel: p.Title, RefID: target.RefID, Expr: grafanaVariables.Replace(target.Expr), Instant: target.Instant})
		}
	}
	if len(qs) == 0 {
		t.Fatal("the dashboard has no queries")
	}
	return qs
}

// TestDashboard checks the dashboard's JSON as Grafana would load it: every
// query on the Prometheus data source the dashboard's variable chooses,
// every expression valid PromQL with no variable Grafana would not fill, and
// every panel's id its own.
func TestDashboard(t *testing.T) {
	t.Parallel()
	d, panels := readDashboard(t)
	if !slices.ContainsFunc(d.Templating.List, func(v struct{ Name, Type, Query string }) bool {
		return v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus"
	}) {
		t.Errorf("no Prometheus data source variable named datasource: %+v", d.Templating.List)
	}
	ids := map[int]string{}
	for _, p := range panels {
		if other, ok := ids[p.ID]; ok {
			t.Errorf("panels %q and %q share id %d", other, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: data source %+v, %d queries; want ${datasource} and a query", p.Title, p.Datasource, len(p.Targets))
		}
		for _, target := range p.Targets {
			if target.Datasource == nil || target.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q query %s: data source %+v, want ${datasource}", p.Title, target.RefID, target.Datasource)
			}
		}
	}
	unfilled := regexp.MustCompile(`\$\{?\w+`)
	for _, q := range dashboardQueries(t) {
		if v := unfilled.FindString(q.Expr); v != "" {
			t.Errorf("%s: variable %s, which Grafana does not fill: %s", q, v, q.Expr)
		}
		if _, err := parser.NewParser(parser.Options{}).ParseExpr(q.Expr); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
}

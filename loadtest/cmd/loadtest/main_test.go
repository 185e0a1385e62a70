package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orderq/orderq/loadtest/internal/gatewaytest"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c config)
		usage bool // want a usage error
	}{
		{
			name: "defaults",
			check: func(t *testing.T, c config) {
				t.Helper()
				cc := c.crowd
				if cc.URL != defaultURL || cc.AdminToken != "" || cc.Stock != 100 || cc.Orders != 2000 ||
					cc.Concurrency != 200 || cc.Quantity != 1 || cc.Customers != 0 || cc.MaxPerCustomer != 0 ||
					cc.Wait != 5 || cc.Timeout != 2*time.Minute || c.mysqlDSN != defaultMySQLDSN || c.json {
					t.Errorf("defaults = %+v, dsn %q, json %v", cc, c.mysqlDSN, c.json)
				}
			},
		},
		{
			name: "environment",
			env:  map[string]string{"ORDERQ_URL": "http://gw:9000", "ADMIN_TOKEN": "tok", "MYSQL_DSN": "u:p@tcp(db:3306)/x"},
			check: func(t *testing.T, c config) {
				t.Helper()
				if c.crowd.URL != "http://gw:9000" || c.crowd.AdminToken != "tok" || c.mysqlDSN != "u:p@tcp(db:3306)/x" {
					t.Errorf("config = %+v, dsn %q: environment not applied", c.crowd, c.mysqlDSN)
				}
			},
		},
		{
			name: "flags win over the environment",
			args: []string{"--url", "http://flag:1", "--admin-token=flag", "--mysql-dsn="},
			env:  map[string]string{"ORDERQ_URL": "http://gw:9000", "ADMIN_TOKEN": "tok", "MYSQL_DSN": "u:p@tcp(db:3306)/x"},
			check: func(t *testing.T, c config) {
				t.Helper()
				if c.crowd.URL != "http://flag:1" || c.crowd.AdminToken != "flag" || c.mysqlDSN != "" {
					t.Errorf("config = %+v, dsn %q: flags did not win", c.crowd, c.mysqlDSN)
				}
			},
		},
		{
			name: "every flag",
			args: []string{"--stock=7", "--orders=9", "--concurrency=3", "--quantity=2", "--customers=4",
				"--max-per-customer=1", "--wait=0", "--timeout=5s", "--json"},
			check: func(t *testing.T, c config) {
				t.Helper()
				cc := c.crowd
				if cc.Stock != 7 || cc.Orders != 9 || cc.Concurrency != 3 || cc.Quantity != 2 || cc.Customers != 4 ||
					cc.MaxPerCustomer != 1 || cc.Wait != 0 || cc.Timeout != 5*time.Second || !c.json {
					t.Errorf("config = %+v, json %v", cc, c.json)
				}
			},
		},
		{name: "unknown flag", args: []string{"--nope"}, usage: true},
		{name: "stray argument", args: []string{"now"}, usage: true},
		{name: "no orders", args: []string{"--orders=0"}, usage: true},
		{name: "no concurrency", args: []string{"--concurrency=0"}, usage: true},
		{name: "negative stock", args: []string{"--stock=-1"}, usage: true},
		{name: "quantity beyond the contract", args: []string{"--quantity=1001"}, usage: true},
		{name: "wait beyond the contract", args: []string{"--wait=31"}, usage: true},
		{name: "no timeout", args: []string{"--timeout=0s"}, usage: true},
		{name: "not a url", args: []string{"--url=localhost:8080"}, usage: true},
		{name: "not a number", args: []string{"--stock=many"}, usage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := loadConfig(tt.args, env(tt.env))
			if tt.usage {
				if !errors.As(err, new(usageError)) {
					t.Fatalf("loadConfig(%q) = %v, want a usage error", tt.args, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadConfig(%q): %v", tt.args, err)
			}
			tt.check(t, c)
		})
	}
}

func TestRun(t *testing.T) {
	good := gatewaytest.New(t, gatewaytest.Options{FailEvery: 11})
	overselling := gatewaytest.New(t, gatewaytest.Options{Oversell: true})
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	sale := func(url string, more ...string) []string {
		return append([]string{"flashsale", "--url", url, "--admin-token", "secret", "--mysql-dsn=",
			"--stock", "10", "--orders", "60", "--concurrency", "8", "--wait", "1", "--timeout", "20s"}, more...)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string // fragments stdout must contain
		err    string   // fragment of the error
	}{
		{
			name:   "a correct gateway passes",
			args:   sale(good.URL),
			code:   exitPassed,
			stdout: []string{"invariants    PASS", "confirmed quantity 10", "ledger        not checked: --mysql-dsn is empty"},
		},
		{
			name:   "an overselling gateway fails",
			args:   sale(overselling.URL),
			code:   exitViolated,
			stdout: []string{"invariants    FAIL", "  - oversold: 60 units were confirmed, but the item had only 10"},
			err:    "invariants violated",
		},
		{
			name:   "json",
			args:   sale(good.URL, "--json"),
			code:   exitPassed,
			stdout: []string{`"passed": true`},
		},
		{name: "help", args: []string{"help"}, code: exitPassed, stdout: []string{"loadtest flashsale [flags]"}},
		{name: "flashsale help", args: []string{"flashsale", "-h"}, code: exitPassed, stdout: []string{"-max-per-customer"}},
		{name: "no subcommand", args: nil, code: exitUsage, err: "no subcommand"},
		{name: "unknown subcommand", args: []string{"stampede"}, code: exitUsage, err: `unknown subcommand "stampede"`},
		{name: "bad flag", args: sale(good.URL, "--orders=-5"), code: exitUsage, err: "orders"},
		{name: "token refused", args: append(sale(good.URL), "--admin-token=wrong"), code: exitFailed, err: "401 unauthorized"},
		{name: "gateway unreachable", args: sale(closed.URL), code: exitFailed, err: "create item"},
		{
			name: "database unreachable",
			args: append(sale(good.URL), "--mysql-dsn=root:@tcp(127.0.0.1:1)/orderq"),
			code: exitFailed,
			err:  "--mysql-dsn= skips the ledger check",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			if got := exitCode(err); got != tt.code {
				t.Fatalf("exit %d (%v), want %d\nstdout:\n%s\nstderr:\n%s", got, err, tt.code, &stdout, &stderr)
			}
			if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("error %v does not say %q", err, tt.err)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout does not contain %q:\n%s", want, &stdout)
				}
			}
		})
	}
}

func TestRunJSONIsOneDocument(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Options{})
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"flashsale", "--url", gw.URL, "--admin-token", "secret",
		"--mysql-dsn=", "--stock", "3", "--orders", "5", "--concurrency", "2", "--json"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, &stderr)
	}
	var doc struct {
		Version    int `json:"version"`
		Invariants struct {
			Passed     bool `json:"passed"`
			Violations []struct {
				Rule string `json:"rule"`
			} `json:"violations"`
		} `json:"invariants"`
		Orders struct {
			Final int `json:"final"`
		} `json:"orders"`
	}
	dec := json.NewDecoder(&stdout)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("stdout is not JSON: %v", err)
	}
	if dec.More() {
		t.Error("stdout holds more than one JSON document")
	}
	if doc.Version != 1 || !doc.Invariants.Passed || doc.Invariants.Violations == nil || doc.Orders.Final != 5 {
		t.Errorf("document = %+v", doc)
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{name: "passed", err: nil, want: exitPassed},
		{name: "violated", err: fmt.Errorf("%w: 2", errViolated), want: exitViolated},
		{name: "usage", err: usageError{errors.New("no subcommand"), "loadtest help"}, want: exitUsage},
		{name: "setup failed", err: errors.New("create item: connection refused"), want: exitFailed},
		{name: "interrupted", err: fmt.Errorf("flash sale interrupted: %w", context.Canceled), want: exitFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.err); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orderq/orderq/loadtest/internal/crowd"
	"github.com/orderq/orderq/loadtest/internal/gatewaytest"
	"github.com/orderq/orderq/loadtest/internal/redistest"
	"github.com/orderq/orderq/shared/cli"
	"github.com/orderq/orderq/shared/testenv"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// jwtSecret is the flag that gives the crowd the fake gateway's secret for
// customer tokens.
const jwtSecret = "--jwt-secret=" + gatewaytest.JWTSecret

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
					cc.Wait != 5 || cc.Timeout != 2*time.Minute || c.mysqlDSN != defaultMySQLDSN || c.json || cc.Auth != crowd.AuthNone {
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
		{
			name: "open loop",
			args: []string{"--rate=2000", "--duration=10s", "--report=out.html"},
			check: func(t *testing.T, c config) {
				t.Helper()
				if c.crowd.Rate != 2000 || c.crowd.Duration != 10*time.Second || !c.crowd.OpenLoop() || c.report != "out.html" {
					t.Errorf("config = %+v, report %q", c.crowd, c.report)
				}
			},
		},
		{name: "rate without duration", args: []string{"--rate=100"}, usage: true},
		{name: "duration without rate", args: []string{"--duration=1s"}, usage: true},
		{name: "catalogue flags are catalogue's", args: []string{"--items=5"}, usage: true},
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
			c, _, err := loadConfig("flashsale", tt.args, env(tt.env))
			if tt.usage {
				if !errors.As(err, new(cli.UsageError)) {
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

func TestLoadCatalogueConfig(t *testing.T) {
	c, _, err := loadConfig("catalogue", nil, env(nil))
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if c.crowd.Items != 10000 || c.crowd.Stock != 10 || c.crowd.Orders != 20000 || c.crowd.ZipfS != 1.1 || c.crowd.Seed != 0 {
		t.Errorf("defaults = %+v", c.crowd)
	}
	c, _, err = loadConfig("catalogue", []string{"--items=50", "--zipf-s=2", "--seed=7", "--stock=3"}, env(nil))
	if err != nil || c.crowd.Items != 50 || c.crowd.ZipfS != 2 || c.crowd.Seed != 7 || c.crowd.Stock != 3 {
		t.Errorf("flags: %+v, %v", c.crowd, err)
	}
	for _, args := range [][]string{{"--items=1"}, {"--zipf-s=1"}, {"--seed=x"}} {
		if _, _, err := loadConfig("catalogue", args, env(nil)); !errors.As(err, new(cli.UsageError)) {
			t.Errorf("loadConfig(catalogue, %q) = %v, want a usage error", args, err)
		}
	}
}

func TestLoadCartsConfig(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c cartsConfig)
		usage bool
	}{
		{
			name: "defaults",
			check: func(t *testing.T, c cartsConfig) {
				t.Helper()
				cc := c.crowd
				if cc.URL != defaultURL || cc.Items != 5 || cc.Stock != 100 || cc.MaxLines != 3 || cc.Orders != 2000 ||
					cc.Concurrency != 200 || cc.Wait != 5 || cc.Timeout != 2*time.Minute || cc.Seed != 0 ||
					c.settle != 30*time.Second || c.mysqlDSN != defaultMySQLDSN || c.json || c.report != "" {
					t.Errorf("defaults = %+v, settle %v, dsn %q", cc, c.settle, c.mysqlDSN)
				}
			},
		},
		{
			name: "every flag",
			args: []string{"--items=7", "--stock=3", "--max-lines=7", "--seed=9", "--orders=50", "--concurrency=4",
				"--customers=2", "--wait=0", "--timeout=5s", "--settle=2s", "--json", "--report=out.html", "--mysql-dsn="},
			env: map[string]string{"MYSQL_DSN": "u:p@tcp(db:3306)/x", "ADMIN_TOKEN": "tok", "ORDERQ_URL": "http://gw:9000"},
			check: func(t *testing.T, c cartsConfig) {
				t.Helper()
				cc := c.crowd
				if cc.Items != 7 || cc.Stock != 3 || cc.MaxLines != 7 || cc.Seed != 9 || cc.Orders != 50 || cc.Concurrency != 4 ||
					cc.Customers != 2 || cc.Wait != 0 || cc.Timeout != 5*time.Second || c.settle != 2*time.Second || !c.json ||
					c.report != "out.html" || c.mysqlDSN != "" || cc.AdminToken != "tok" || cc.URL != "http://gw:9000" {
					t.Errorf("config = %+v, settle %v, dsn %q", cc, c.settle, c.mysqlDSN)
				}
			},
		},
		{
			name: "open loop",
			args: []string{"--rate=100", "--duration=2s"},
			check: func(t *testing.T, c cartsConfig) {
				t.Helper()
				if !c.crowd.OpenLoop() {
					t.Errorf("config = %+v", c.crowd)
				}
			},
		},
		{name: "more lines than items", args: []string{"--items=2", "--max-lines=3"}, usage: true},
		{name: "no lines", args: []string{"--max-lines=0"}, usage: true},
		{name: "more lines than the contract", args: []string{"--items=60", "--max-lines=51"}, usage: true},
		{name: "no items", args: []string{"--items=0"}, usage: true},
		{name: "no settling", args: []string{"--settle=0s"}, usage: true},
		{name: "flashsale's quantity is not carts'", args: []string{"--quantity=2"}, usage: true},
		{name: "bad seed", args: []string{"--seed=x"}, usage: true},
		{name: "no orders", args: []string{"--orders=0"}, usage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := loadCartsConfig(tt.args, env(tt.env))
			if tt.usage {
				if !errors.As(err, new(cli.UsageError)) {
					t.Fatalf("loadCartsConfig(%q) = %v, want a usage error", tt.args, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadCartsConfig(%q): %v", tt.args, err)
			}
			tt.check(t, c)
		})
	}
}

// TestAuthFlags: how the buyers authenticate, from the flags and the
// gateway's own variables, in every command that places orders.
func TestAuthFlags(t *testing.T) {
	const secret, key = "0123456789abcdef0123456789abcdef", "storefront-key"
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		auth  crowd.Auth
		check func(t *testing.T, c crowd.Config)
		usage string // fragment of the usage error; "" when none
	}{
		{name: "nothing set", auth: crowd.AuthNone},
		{
			name: "the gateway's secret, issuer and audience",
			env:  map[string]string{"CUSTOMER_JWT_SECRET": secret, "CUSTOMER_JWT_ISSUER": "shop", "CUSTOMER_JWT_AUDIENCE": "orderq"},
			auth: crowd.AuthToken,
			check: func(t *testing.T, c crowd.Config) {
				t.Helper()
				if string(c.Tokens.Secret) != secret || c.Tokens.Issuer != "shop" || c.Tokens.Audience != "orderq" {
					t.Errorf("tokens = %+v", c.Tokens)
				}
			},
		},
		{
			name: "the secret flag wins",
			args: []string{"--jwt-secret", strings.ToUpper(secret)},
			env:  map[string]string{"CUSTOMER_JWT_SECRET": secret},
			auth: crowd.AuthToken,
			check: func(t *testing.T, c crowd.Config) {
				t.Helper()
				if string(c.Tokens.Secret) != strings.ToUpper(secret) {
					t.Errorf("secret %q: the flag did not win", c.Tokens.Secret)
				}
			},
		},
		{
			name: "the first of the gateway's storefront keys",
			env:  map[string]string{"STOREFRONT_API_KEYS": " " + key + " ,other"},
			auth: crowd.AuthStorefront,
			check: func(t *testing.T, c crowd.Config) {
				t.Helper()
				if c.APIKey != key {
					t.Errorf("key %q, want %q", c.APIKey, key)
				}
			},
		},
		{
			name: "a storefront's own key before the gateway's list",
			env:  map[string]string{"STOREFRONT_API_KEY": "mine", "STOREFRONT_API_KEYS": key},
			auth: crowd.AuthStorefront,
			check: func(t *testing.T, c crowd.Config) {
				t.Helper()
				if c.APIKey != "mine" {
					t.Errorf("key %q, want mine", c.APIKey)
				}
			},
		},
		{name: "the key flag", args: []string{"--api-key", key}, env: map[string]string{"STOREFRONT_API_KEY": "mine"}, auth: crowd.AuthStorefront,
			check: func(t *testing.T, c crowd.Config) {
				t.Helper()
				if c.APIKey != key {
					t.Errorf("key %q, want %q", c.APIKey, key)
				}
			}},
		{name: "tokens before a key", env: map[string]string{"CUSTOMER_JWT_SECRET": secret, "STOREFRONT_API_KEYS": key}, auth: crowd.AuthToken},
		{name: "storefront asked for", args: []string{"--auth=storefront"},
			env: map[string]string{"CUSTOMER_JWT_SECRET": secret, "STOREFRONT_API_KEYS": key}, auth: crowd.AuthStorefront},
		{name: "none asked for", args: []string{"--auth=none"}, env: map[string]string{"CUSTOMER_JWT_SECRET": secret}, auth: crowd.AuthNone},
		{name: "an explicitly empty secret", args: []string{"--jwt-secret="}, env: map[string]string{"CUSTOMER_JWT_SECRET": secret}, auth: crowd.AuthNone},
		{name: "token without a secret", args: []string{"--auth=token"}, usage: "--auth token needs --jwt-secret or CUSTOMER_JWT_SECRET"},
		{name: "a short secret", env: map[string]string{"CUSTOMER_JWT_SECRET": "short"}, usage: "must be at least 32 bytes"},
		{name: "storefront without a key", args: []string{"--auth=storefront"}, usage: "--auth storefront needs --api-key"},
		{name: "unknown", args: []string{"--auth=basic"}, usage: `auth "basic"`},
	}
	loaders := map[string]func(args []string, getenv func(string) string) (crowd.Config, error){
		"flashsale": func(args []string, getenv func(string) string) (crowd.Config, error) {
			c, _, err := loadConfig("flashsale", args, getenv)
			return c.crowd, err
		},
		"catalogue": func(args []string, getenv func(string) string) (crowd.Config, error) {
			c, _, err := loadConfig("catalogue", args, getenv)
			return c.crowd, err
		},
		"carts": func(args []string, getenv func(string) string) (crowd.Config, error) {
			c, _, err := loadCartsConfig(args, getenv)
			return c.crowd, err
		},
		"compare": func(args []string, getenv func(string) string) (crowd.Config, error) {
			c, _, err := loadCompareConfig(args, getenv)
			return c.crowd, err
		},
		"soak": func(args []string, getenv func(string) string) (crowd.Config, error) {
			c, _, err := loadSoakConfig(args, getenv)
			return c.crowd, err
		},
	}
	for command, load := range loaders {
		for _, tt := range tests {
			t.Run(command+"/"+tt.name, func(t *testing.T) {
				c, err := load(tt.args, env(tt.env))
				if tt.usage != "" {
					if !errors.As(err, new(cli.UsageError)) || !strings.Contains(err.Error(), tt.usage) {
						t.Fatalf("load(%q) = %v, want a usage error saying %q", tt.args, err, tt.usage)
					}
					return
				}
				if err != nil {
					t.Fatalf("load(%q): %v", tt.args, err)
				}
				if c.Auth != tt.auth {
					t.Errorf("auth %q, want %q", c.Auth, tt.auth)
				}
				if tt.check != nil {
					tt.check(t, c)
				}
			})
		}
	}
}

func TestLoadCompareConfig(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, c compareConfig)
		usage bool
	}{
		{
			name: "defaults",
			check: func(t *testing.T, c compareConfig) {
				t.Helper()
				if !slices.Equal(c.strategies, []string{"naive", "forupdate", "atomic", "redis", "orderq"}) || c.expectCorrect || c.keep ||
					c.pool != 64 || c.window != time.Millisecond || c.crowd.Stock != 1000 || c.crowd.Orders != 20000 ||
					c.crowd.Concurrency != 64 || c.mysqlDSN != defaultMySQLDSN ||
					c.redisURL != "" || c.writeEvery != 100*time.Millisecond || c.killRedisAfter != 0 {
					t.Errorf("defaults = %+v", c)
				}
			},
		},
		{
			name: "strategies in canonical order",
			args: []string{"--strategies", "orderq, naive", "--expect-correct", "--keep", "--concurrency=8", "--naive-window=0s"},
			check: func(t *testing.T, c compareConfig) {
				t.Helper()
				if !slices.Equal(c.strategies, []string{"naive", "orderq"}) || !c.expectCorrect || !c.keep || c.pool != 8 || c.window != 0 {
					t.Errorf("config = %+v", c)
				}
			},
		},
		{
			name: "redis crashed",
			args: []string{"--strategies", "redis", "--kill-redis-after=2s", "--redis-write-every=1s"},
			check: func(t *testing.T, c compareConfig) {
				t.Helper()
				if !slices.Equal(c.strategies, []string{"redis"}) || c.killRedisAfter != 2*time.Second || c.writeEvery != time.Second {
					t.Errorf("config = %+v", c)
				}
			},
		},
		{
			name: "a Redis that runs",
			args: []string{"--strategies", "redis", "--redis-url=redis://:pw@127.0.0.1:6390/2"},
			check: func(t *testing.T, c compareConfig) {
				t.Helper()
				if c.redisURL != "redis://:pw@127.0.0.1:6390/2" || c.header.Flags["redis-url"] != "redis://:xxxxx@127.0.0.1:6390/2" {
					t.Errorf("redis url %q, in the header %q", c.redisURL, c.header.Flags["redis-url"])
				}
			},
		},
		{name: "kill without redis", args: []string{"--strategies=atomic", "--kill-redis-after=2s"}, usage: true},
		{name: "kill a Redis not started", args: []string{"--kill-redis-after=2s", "--redis-url=redis://127.0.0.1:6390"}, usage: true},
		{name: "negative kill", args: []string{"--kill-redis-after=-1s"}, usage: true},
		{name: "writer never writes", args: []string{"--redis-write-every=0s"}, usage: true},
		{name: "bad redis url", args: []string{"--redis-url=http://127.0.0.1:6390"}, usage: true},
		{name: "unknown strategy", args: []string{"--strategies=optimistic"}, usage: true},
		{name: "strategy twice", args: []string{"--strategies=naive,naive"}, usage: true},
		{name: "no database server", args: []string{"--mysql-dsn="}, usage: true},
		{name: "bad crowd", args: []string{"--orders=0"}, usage: true},
		{name: "negative pool", args: []string{"--pool=-1"}, usage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := loadCompareConfig(tt.args, env(nil))
			if tt.usage {
				if !errors.As(err, new(cli.UsageError)) {
					t.Fatalf("loadCompareConfig(%q) = %v, want a usage error", tt.args, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadCompareConfig(%q): %v", tt.args, err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadSoakConfig(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c soakConfig)
		usage bool
	}{
		{
			name: "defaults: the issue's three sales, ten of them",
			check: func(t *testing.T, c soakConfig) {
				t.Helper()
				cc := c.crowd
				if c.sales != 10 || cc.Rate != 10000 || cc.Duration != 30*time.Second || cc.Stock != 1000 || cc.Concurrency != 1000 ||
					cc.Quantity != 1 || cc.Wait != 5 || cc.Timeout != 2*time.Minute || cc.URL != defaultURL || cc.AdminToken != "" ||
					c.mysqlDSN != defaultMySQLDSN || c.json || !cc.OpenLoop() || cc.Auth != crowd.AuthNone {
					t.Errorf("defaults = %+v, sales %d, dsn %q, json %v", cc, c.sales, c.mysqlDSN, c.json)
				}
			},
		},
		{
			name: "environment",
			env:  map[string]string{"ORDERQ_URL": "http://gw:9000", "ADMIN_TOKEN": "tok", "MYSQL_DSN": "u:p@tcp(db:3306)/x"},
			check: func(t *testing.T, c soakConfig) {
				t.Helper()
				if c.crowd.URL != "http://gw:9000" || c.crowd.AdminToken != "tok" || c.mysqlDSN != "u:p@tcp(db:3306)/x" {
					t.Errorf("config = %+v, dsn %q: environment not applied", c.crowd, c.mysqlDSN)
				}
			},
		},
		{
			name: "every flag",
			args: []string{"--sales=3", "--stock=7", "--rate=2000", "--duration=5s", "--concurrency=8", "--quantity=2", "--wait=1",
				"--timeout=9s", "--json", "--url=http://flag:1", "--admin-token=flag", "--mysql-dsn="},
			env: map[string]string{"ORDERQ_URL": "http://gw:9000", "ADMIN_TOKEN": "tok", "MYSQL_DSN": "u:p@tcp(db:3306)/x"},
			check: func(t *testing.T, c soakConfig) {
				t.Helper()
				cc := c.crowd
				if c.sales != 3 || cc.Stock != 7 || cc.Rate != 2000 || cc.Duration != 5*time.Second || cc.Concurrency != 8 || cc.Quantity != 2 ||
					cc.Wait != 1 || cc.Timeout != 9*time.Second || !c.json || cc.URL != "http://flag:1" || cc.AdminToken != "flag" || c.mysqlDSN != "" {
					t.Errorf("config = %+v, sales %d, dsn %q, json %v", cc, c.sales, c.mysqlDSN, c.json)
				}
			},
		},
		{name: "no sales", args: []string{"--sales=0"}, usage: true},
		{name: "too many sales", args: []string{"--sales=10001"}, usage: true},
		{name: "closed loop", args: []string{"--rate=0"}, usage: true},
		{name: "no duration", args: []string{"--duration=0s"}, usage: true},
		{name: "more orders a sale than a run can hold", args: []string{"--rate=1000000", "--duration=10s"}, usage: true},
		{name: "flashsale's orders are not soak's", args: []string{"--orders=5"}, usage: true},
		{name: "no concurrency", args: []string{"--concurrency=0"}, usage: true},
		{name: "wait beyond the contract", args: []string{"--wait=31"}, usage: true},
		{name: "not a url", args: []string{"--url=localhost:8080"}, usage: true},
		{name: "stray argument", args: []string{"now"}, usage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := loadSoakConfig(tt.args, env(tt.env))
			if tt.usage {
				if !errors.As(err, new(cli.UsageError)) {
					t.Fatalf("loadSoakConfig(%q) = %v, want a usage error", tt.args, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadSoakConfig(%q): %v", tt.args, err)
			}
			tt.check(t, c)
		})
	}
}

func TestRun(t *testing.T) {
	good := gatewaytest.New(t, gatewaytest.Options{FailEvery: 11})
	overselling := gatewaytest.New(t, gatewaytest.Options{Oversell: true})
	leaking := gatewaytest.New(t, gatewaytest.Options{Leak: true})
	open := gatewaytest.New(t, gatewaytest.Options{AuthOff: true})
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	sale := func(url string, more ...string) []string {
		return append([]string{"flashsale", "--url", url, "--admin-token", "secret", jwtSecret, "--mysql-dsn=",
			"--stock", "10", "--orders", "60", "--concurrency", "8", "--wait", "1", "--timeout", "20s"}, more...)
	}
	carts := func(url string, more ...string) []string {
		return append([]string{"carts", "--url", url, "--admin-token", "secret", jwtSecret, "--mysql-dsn=",
			"--items", "4", "--stock", "10", "--orders", "80", "--concurrency", "8", "--wait", "1",
			"--timeout", "20s", "--settle", "300ms", "--seed", "5"}, more...)
	}
	soak := func(url string, more ...string) []string {
		return append([]string{"soak", "--url", url, "--admin-token", "secret", jwtSecret, "--mysql-dsn=",
			"--sales", "2", "--stock", "10", "--rate", "100", "--duration", "300ms", "--concurrency", "8", "--wait", "1", "--timeout", "20s"}, more...)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string // fragments stdout must contain
		err    string   // fragment of the error
	}{
		{
			name: "a correct gateway passes",
			args: sale(good.URL),
			code: cli.ExitOK,
			stdout: []string{"invariants    PASS", "confirmed quantity 10", "ledger        not checked: --mysql-dsn is empty",
				"auth          token: a customer token per buyer, 60 minted in "},
		},
		{
			name:   "as a storefront",
			args:   sale(good.URL, "--auth=storefront", "--api-key", gatewaytest.APIKey),
			code:   cli.ExitOK,
			stdout: []string{"invariants    PASS", "auth          storefront: X-API-Key, the customer named in the body"},
		},
		{
			name:   "without credentials at a gateway with AUTH=off",
			args:   sale(open.URL, "--auth=none"),
			code:   cli.ExitOK,
			stdout: []string{"invariants    PASS", "auth          none: no credential"},
		},
		{
			name: "without credentials at a gateway that wants them",
			args: sale(good.URL, "--auth=none"),
			code: cli.ExitCannot,
			err:  "the gateway refused the buyers' credentials (auth none): gateway answered 401 unauthorized",
		},
		{
			name: "tokens of another secret",
			args: sale(good.URL, "--jwt-secret="+strings.Repeat("x", 32)),
			code: cli.ExitCannot,
			err:  "the gateway refused the buyers' credentials (auth token): gateway answered 401 unauthorized",
		},
		{name: "token without a secret", args: sale(good.URL, "--jwt-secret=", "--auth=token"), code: cli.ExitUsage, err: "--auth token needs --jwt-secret"},
		{
			name:   "an overselling gateway fails",
			args:   sale(overselling.URL),
			code:   cli.ExitFailed,
			stdout: []string{"invariants    FAIL", "  - oversold: 60 units were confirmed, but the item had only 10"},
			err:    "invariants violated",
		},
		{
			name:   "json",
			args:   sale(good.URL, "--json"),
			code:   cli.ExitOK,
			stdout: []string{`"passed": true`},
		},
		{
			name: "open loop",
			args: []string{"flashsale", "--url", good.URL, "--admin-token", "secret", jwtSecret, "--mysql-dsn=",
				"--stock", "10", "--rate", "100", "--duration", "300ms", "--concurrency", "8", "--wait", "1"},
			code:   cli.ExitOK,
			stdout: []string{"schedule      open loop, 100/s for 300ms: sent ", "orders        30 planned, 30 sent", "invariants    PASS"},
		},
		{
			name: "catalogue",
			args: []string{"catalogue", "--url", good.URL, "--admin-token", "secret", jwtSecret, "--mysql-dsn=",
				"--items", "20", "--stock", "3", "--orders", "150", "--concurrency", "8", "--wait", "1", "--seed", "3"},
			code:   cli.ExitOK,
			stdout: []string{"catalogue     20 items of stock 3, Zipf s 1.1 (seed 3): stock 60 → ", "invariants    PASS"},
		},
		{
			name: "an overselling catalogue fails",
			args: []string{"catalogue", "--url", overselling.URL, "--admin-token", "secret", jwtSecret, "--mysql-dsn=",
				"--items", "20", "--stock", "3", "--orders", "150", "--concurrency", "8", "--wait", "1", "--seed", "3"},
			code:   cli.ExitFailed,
			stdout: []string{"invariants    FAIL", "  - oversold: ", " of 20 items: item "},
			err:    "invariants violated",
		},
		{
			name: "carts",
			args: carts(good.URL),
			code: cli.ExitOK,
			stdout: []string{"carts         4 items of stock 10, 1–3 lines of 1–3 units each (seed 5): stock 40 → ",
				"settled       not checked: the database was not read", "item          initial  stock  confirmed  reserved\n",
				"invariants    PASS"},
		},
		{
			name:   "an overselling gateway fails carts",
			args:   carts(overselling.URL),
			code:   cli.ExitFailed,
			stdout: []string{"invariants    FAIL", "  - oversold: "},
			err:    "invariants violated",
		},
		{
			name:   "a gateway that keeps what rejected carts reserved fails",
			args:   carts(leaking.URL),
			code:   cli.ExitFailed,
			stdout: []string{"invariants    FAIL", "  - stock_mismatch: "},
			err:    "invariants violated",
		},
		{name: "carts json", args: carts(good.URL, "--json"), code: cli.ExitOK, stdout: []string{`"carts": {`, `"per_item": [`, `"passed": true`, `"auth": "token"`}},
		{name: "carts as a storefront", args: carts(good.URL, "--auth=storefront", "--api-key="+gatewaytest.APIKey), code: cli.ExitOK,
			stdout: []string{"invariants    PASS", "auth          storefront: "}},
		{name: "carts help", args: []string{"carts", "-h"}, code: cli.ExitOK,
			stdout: []string{"Usage: loadtest carts", "-max-lines", "-settle", "-seed", "-items"}},
		{name: "carts bad flag", args: carts(good.URL, "--max-lines=9"), code: cli.ExitUsage, err: "max-lines"},
		{
			name: "carts: database unreachable",
			args: append(carts(good.URL), "--mysql-dsn=root:@tcp(127.0.0.1:1)/orderq"),
			code: cli.ExitCannot,
			err:  "--mysql-dsn= checks the gateway's answers only",
		},
		{
			name: "soak",
			args: soak(good.URL),
			code: cli.ExitOK,
			stdout: []string{"2 sales back to back, each a new item of stock 10: 100 orders/s of quantity 1 for 300ms",
				"store not read: --mysql-dsn is empty\n", "\n   1  ", "\n   2  ", "  PASS  ", "invariants  PASS in all 2 sales"},
		},
		{
			name:   "soak: an overselling gateway fails every sale",
			args:   soak(overselling.URL),
			code:   cli.ExitFailed,
			stdout: []string{"FAIL (2)", "      - oversold: 30 units were confirmed, but the item had only 10", "invariants  FAIL in sales 1, 2 (2 of 2)"},
			err:    "invariants violated in 2 of 2 sales",
		},
		{name: "soak json", args: soak(good.URL, "--json"), code: cli.ExitOK, stdout: []string{`"sales": [`, `"complete": true`, `"failed_sales": []`}},
		{name: "soak help", args: []string{"soak", "-h"}, code: cli.ExitOK,
			stdout: []string{"Usage: loadtest soak", "accept→final p99", "ANALYZE TABLE", "-sales", "-rate", "-mysql-dsn", "-auth", "-report"}},
		{name: "soak bad flag", args: soak(good.URL, "--sales=0"), code: cli.ExitUsage, err: "sales"},
		{name: "soak: gateway unreachable", args: soak(closed.URL), code: cli.ExitCannot, err: "sale 1 of 2: create item"},
		{
			name: "soak: database unreachable",
			args: append(soak(good.URL), "--mysql-dsn=root:@tcp(127.0.0.1:1)/orderq"),
			code: cli.ExitCannot,
			err:  "--mysql-dsn= skips the ledgers and the store",
		},
		{name: "help", args: []string{"help"}, code: cli.ExitOK,
			stdout: []string{"loadtest flashsale [flags]", "loadtest catalogue [flags]", "loadtest carts [flags]", "loadtest compare [flags]",
				"loadtest soak [flags]"}},
		{name: "flashsale help", args: []string{"flashsale", "-h"}, code: cli.ExitOK,
			stdout: []string{"Usage: loadtest flashsale", "-max-per-customer", "-rate", "-duration", "-report", "-auth", "-jwt-secret", "-api-key"}},
		{name: "catalogue help", args: []string{"catalogue", "-h"}, code: cli.ExitOK, stdout: []string{"Usage: loadtest catalogue", "-zipf-s", "-items"}},
		{name: "compare help", args: []string{"compare", "-h"}, code: cli.ExitOK,
			stdout: []string{"Usage: loadtest compare", "SELECT … FOR UPDATE", "Lua script", "-strategies", "-expect-correct", "-keep",
				"-kill-redis-after", "-redis-url", "-redis-write-every", "lost orders"}},
		{name: "compare without a gateway", args: []string{"compare", "--url", closed.URL}, code: cli.ExitCannot,
			err: "--strategies without orderq skips it"},
		{name: "no subcommand", args: nil, code: cli.ExitUsage, err: "no subcommand"},
		{name: "unknown subcommand", args: []string{"stampede"}, code: cli.ExitUsage, err: `unknown subcommand "stampede"`},
		{name: "bad flag", args: sale(good.URL, "--orders=-5"), code: cli.ExitUsage, err: "orders"},
		{name: "token refused", args: append(sale(good.URL), "--admin-token=wrong"), code: cli.ExitCannot, err: "401 unauthorized"},
		{name: "gateway unreachable", args: sale(closed.URL), code: cli.ExitCannot, err: "create item"},
		{
			name: "database unreachable",
			args: append(sale(good.URL), "--mysql-dsn=root:@tcp(127.0.0.1:1)/orderq"),
			code: cli.ExitCannot,
			err:  "--mysql-dsn= skips the ledger check",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			if got := cli.Code(err); got != tt.code {
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
	err := run(context.Background(), []string{"flashsale", "--url", gw.URL, "--admin-token", "secret", jwtSecret,
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
		{name: "passed", err: nil, want: cli.ExitOK},
		{name: "violated", err: fmt.Errorf("%w: 2", errViolated), want: cli.ExitFailed},
		{name: "usage", err: cli.UsageError{Err: errors.New("no subcommand"), Help: "loadtest help"}, want: cli.ExitUsage},
		{name: "setup failed", err: errors.New("create item: connection refused"), want: cli.ExitCannot},
		{name: "interrupted", err: fmt.Errorf("flash sale interrupted: %w", context.Canceled), want: cli.ExitCannot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cli.Code(tt.err); got != tt.want {
				t.Errorf("cli.Code(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

// reportDoc is what the tests read of a report's JSON document: its header,
// counts, latencies, histograms and series.
type reportDoc struct {
	Header struct {
		Command     string            `json:"command"`
		Args        []string          `json:"args"`
		Flags       map[string]string `json:"flags"`
		Environment map[string]string `json:"environment"`
		Started     string            `json:"started"`
		Finished    string            `json:"finished"`
		Target      struct {
			URL        string `json:"url"`
			APIVersion string `json:"api_version"`
		} `json:"target"`
		Build struct {
			GoVersion string `json:"go_version"`
			Revision  string `json:"vcs_revision"`
			Note      string `json:"note"`
		} `json:"build"`
		Host struct {
			OS   string `json:"goos"`
			Arch string `json:"goarch"`
			CPUs int    `json:"cpus"`
		} `json:"host"`
	} `json:"header"`
	Item struct {
		ID int64 `json:"id"`
	} `json:"item"`
	Orders struct {
		Sent     int `json:"sent"`
		Accepted int `json:"accepted"`
		Final    int `json:"final"`
	} `json:"orders"`
	Latency    map[string]struct{ Count int } `json:"latency"`
	Histograms map[string][]struct {
		LoMS  float64  `json:"lo_ms"`
		HiMS  *float64 `json:"hi_ms"`
		Count int      `json:"count"`
	} `json:"histograms"`
	Series struct {
		Started string `json:"started"`
		Seconds []struct {
			Second      int `json:"second"`
			Sent        int `json:"sent"`
			Accepted    int `json:"accepted"`
			Final       int `json:"final"`
			Accept      struct{ Count int }
			Errors      int `json:"errors"`
			Unavailable int `json:"status_503"`
		} `json:"seconds"`
		Stock *struct {
			Item    int64 `json:"item"`
			Samples []struct {
				Stock int64 `json:"stock"`
			} `json:"samples"`
		} `json:"stock"`
	} `json:"series"`
	Errors map[string]int `json:"errors"`
}

// TestRunWritesReports runs a flash sale against the fake gateway, which
// answers some orders 503, with --json and --report, and reads both
// reports: the header (when, against what, by which build, with which
// flags, no secret in it), the run second by second and the histograms,
// each adding up to the run's totals.
func TestRunWritesReports(t *testing.T) {
	const adminToken, dbPassword = "admin-token-of-this-test", "db-password-of-this-test"
	gw := gatewaytest.New(t, gatewaytest.Options{Token: adminToken, Delay: time.Millisecond, FailEvery: 7})
	path := filepath.Join(t.TempDir(), "out.html")
	args := []string{"--url", gw.URL, jwtSecret, "--mysql-dsn=", "--stock", "20", "--orders", "200", "--concurrency", "4",
		"--wait", "1", "--json", "--report", path}
	var stdout, stderr bytes.Buffer
	err := sale(context.Background(), "flashsale", args, env(map[string]string{"ADMIN_TOKEN": adminToken,
		"MYSQL_DSN": "orderq:" + dbPassword + "@tcp(127.0.0.1:1)/orderq"}), &stdout, &stderr, false)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, &stderr)
	}
	html, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{adminToken, gatewaytest.JWTSecret, dbPassword} {
		if strings.Contains(stdout.String(), secret) || strings.Contains(string(html), secret) {
			t.Errorf("a report shows the secret %q", secret)
		}
	}

	var doc reportDoc
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, &stdout)
	}
	h := doc.Header
	if h.Command != "loadtest flashsale" || len(h.Args) != len(args) || h.Args[2] != "--jwt-secret=***" || h.Args[1] != gw.URL {
		t.Errorf("command %q, args %q", h.Command, h.Args)
	}
	// --mysql-dsn= on the command line wins over MYSQL_DSN, which is not
	// applied; ADMIN_TOKEN is.
	if h.Flags["admin-token"] != "***" || h.Flags["orders"] != "200" || h.Flags["mysql-dsn"] != "" || h.Flags["report"] != path ||
		!reflect.DeepEqual(h.Environment, map[string]string{"ADMIN_TOKEN": "***"}) {
		t.Errorf("flags %v, environment %v", h.Flags, h.Environment)
	}
	started, err1 := time.Parse(time.RFC3339, h.Started)
	finished, err2 := time.Parse(time.RFC3339, h.Finished)
	if err1 != nil || err2 != nil || !strings.HasSuffix(h.Started, "Z") || !strings.HasSuffix(h.Finished, "Z") || finished.Before(started) {
		t.Errorf("started %q, finished %q: want RFC 3339 in UTC, in order (%v, %v)", h.Started, h.Finished, err1, err2)
	}
	if h.Target.URL != gw.URL || h.Target.APIVersion != gatewaytest.APIVersion {
		t.Errorf("target %+v", h.Target)
	}
	if h.Build.GoVersion != runtime.Version() || (h.Build.Revision == "") == (h.Build.Note == "") {
		t.Errorf("build %+v: want the Go version, and a revision or why there is none", h.Build)
	}
	if h.Host.OS != runtime.GOOS || h.Host.Arch != runtime.GOARCH || h.Host.CPUs != runtime.NumCPU() {
		t.Errorf("host %+v", h.Host)
	}

	// The seconds add up to the run, and the 503s to the errors counted.
	var sent, accepted, final, acceptCount, errs, unavailable int
	for i, s := range doc.Series.Seconds {
		if s.Second != i {
			t.Errorf("second %d is numbered %d", i, s.Second)
		}
		sent, accepted, final, acceptCount = sent+s.Sent, accepted+s.Accepted, final+s.Final, acceptCount+s.Accept.Count
		errs, unavailable = errs+s.Errors, unavailable+s.Unavailable
	}
	if len(doc.Series.Seconds) == 0 || doc.Series.Started < h.Started || doc.Series.Started > h.Finished {
		t.Errorf("series of %d seconds from %s, within %s to %s", len(doc.Series.Seconds), doc.Series.Started, h.Started, h.Finished)
	}
	if sent != doc.Orders.Sent || accepted != doc.Orders.Accepted || final != doc.Orders.Final || acceptCount != accepted || accepted != 200 {
		t.Errorf("the seconds sum to %d sent, %d accepted (%d accept latencies), %d final; the run %+v", sent, accepted, acceptCount, final, doc.Orders)
	}
	if n := doc.Errors["order 503 unavailable"]; n == 0 || errs != n || unavailable != n {
		t.Errorf("the seconds count %d errors, %d of them 503; the run counted %v", errs, unavailable, doc.Errors)
	}
	if st := doc.Series.Stock; st == nil || st.Item != doc.Item.ID || len(st.Samples) < 2 || st.Samples[len(st.Samples)-1].Stock != 0 {
		t.Errorf("stock samples %+v of item %d", st, doc.Item.ID)
	}
	for _, span := range []string{"accept", "accept_to_final", "order_to_final"} {
		n := 0
		for _, b := range doc.Histograms[span] {
			n += b.Count
		}
		if bins := doc.Histograms[span]; n != doc.Latency[span].Count || n == 0 || bins[0].Count == 0 || bins[len(bins)-1].Count == 0 {
			t.Errorf("%s: %d bins holding %d latencies of %d", span, len(bins), n, doc.Latency[span].Count)
		}
	}

	for _, want := range []string{
		"<title>loadtest flashsale</title>",
		"<tr><th>target</th><td>" + gw.URL + ", API version " + gatewaytest.APIVersion + "</td></tr>",
		"<tr><th>started</th><td>" + h.Started + "</td></tr>",
		`<code class="flag">--admin-token=***</code>`,
		`<code class="env">ADMIN_TOKEN=***</code>`,
		`aria-label="Throughput, per second"`, `aria-label="Accept latency, per second"`, `aria-label="Failed requests, per second"`,
		`aria-label="Accept latency, every order"`, `<rect class="bar"`,
		fmt.Sprintf(`aria-label="Stock of item %d, sampled"`, doc.Item.ID),
		">orders/s<", ">ms (log scale)<", ">requests/s<", ">latency (log scale)<",
		`data-name="accepted"`, `data-name="503"`,
		"invariants    PASS",
	} {
		if !strings.Contains(string(html), want) {
			t.Errorf("report does not contain %q", want)
		}
	}
	if !strings.Contains(stderr.String(), "report written to "+path) {
		t.Errorf("stderr does not name the report:\n%s", &stderr)
	}
}

// TestCompareNaiveFails is the proof that the checker can fail: the naive
// strategy, a deliberately broken build, loses updates under a crowd, and
// --expect-correct turns that into exit status 1. Its read-modify-write window
// (1 ms by default) makes the race certain, not a matter of luck.
func TestCompareNaiveFails(t *testing.T) {
	server := testenv.Require(t, "TEST_MYSQL_DSN")
	args := func(more ...string) []string {
		return append([]string{"compare", "--mysql-dsn", server, "--strategies", "naive",
			"--stock", "50", "--orders", "400", "--concurrency", "32", "--timeout", "30s"}, more...)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
	}{
		{
			name:   "expected correct, it is not",
			args:   args("--expect-correct"),
			code:   cli.ExitFailed,
			stdout: []string{"naive", "FAIL", "naive (SELECT stock, then UPDATE to the value read minus the quantity, no transaction) broke:", "  - oversold: "},
		},
		// A yardstick's violations are what it is there to show: they do not
		// fail the comparison unless asked to.
		{name: "reported only", args: args(), code: cli.ExitOK, stdout: []string{"FAIL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			if got := cli.Code(err); got != tt.code {
				t.Fatalf("exit %d (%v), want %d\nstdout:\n%s\nstderr:\n%s", got, err, tt.code, &stdout, &stderr)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout does not contain %q:\n%s", want, &stdout)
				}
			}
		})
	}
}

// TestCompareAll runs every strategy, with the fake gateway standing in for
// orderq, and checks the table, the JSON and the HTML report.
func TestCompareAll(t *testing.T) {
	server := testenv.Require(t, "TEST_MYSQL_DSN")
	redistest.Require(t) // compare starts the redis strategy's Redis
	gw := gatewaytest.New(t, gatewaytest.Options{})
	path := filepath.Join(t.TempDir(), "compare.html")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"compare", "--url", gw.URL, "--admin-token", "secret", jwtSecret, "--mysql-dsn", server,
		"--stock", "30", "--orders", "200", "--concurrency", "16", "--wait", "1", "--timeout", "30s", "--json", "--report", path},
		&stdout, &stderr)
	if got := cli.Code(err); got != cli.ExitOK {
		t.Fatalf("exit %d (%v)\nstdout:\n%s\nstderr:\n%s", got, err, &stdout, &stderr)
	}
	var doc struct {
		Header struct {
			Command string `json:"command"`
			Target  struct {
				URL        string `json:"url"`
				APIVersion string `json:"api_version"`
			} `json:"target"`
		} `json:"header"`
		Ratio      *float64 `json:"orderq_ratio"`
		Baseline   string   `json:"ratio_baseline"`
		Strategies []struct {
			Name        string `json:"name"`
			Passed      bool   `json:"passed"`
			LostUpdates int64  `json:"lost_updates"`
			LostOrders  *int   `json:"lost_orders"`
			Run         struct {
				Orders struct {
					Lost *int `json:"lost"`
				} `json:"orders"`
				Ledger struct {
					Note string `json:"note"`
				} `json:"ledger"`
				Crowd struct {
					Auth string `json:"auth"`
				} `json:"crowd"`
			} `json:"run"`
		} `json:"strategies"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, &stdout)
	}
	var names []string
	for _, s := range doc.Strategies {
		names = append(names, s.Name)
		// orderq's buyers have tokens; the yardsticks check no credential.
		if want := map[bool]string{true: "token", false: "none"}[s.Name == "orderq"]; s.Run.Crowd.Auth != want {
			t.Errorf("%s: auth %q, want %q", s.Name, s.Run.Crowd.Auth, want)
		}
		if s.Name != "naive" && (!s.Passed || s.LostUpdates != 0) {
			t.Errorf("%s: passed %v, %d lost updates", s.Name, s.Passed, s.LostUpdates)
		}
		// Every strategy's confirmed orders were read back, and are there.
		if s.LostOrders == nil || *s.LostOrders != 0 || s.Run.Orders.Lost == nil || *s.Run.Orders.Lost != 0 {
			t.Errorf("%s: lost orders %v (run: %v), want 0 of a read-back", s.Name, s.LostOrders, s.Run.Orders.Lost)
		}
	}
	if !slices.Equal(names, []string{"naive", "forupdate", "atomic", "redis", "orderq"}) || doc.Ratio == nil ||
		(doc.Baseline != "forupdate" && doc.Baseline != "atomic") {
		t.Errorf("strategies %v, ratio %v over %q", names, doc.Ratio, doc.Baseline)
	}
	if note := doc.Strategies[4].Run.Ledger.Note; note != "--mysql-dsn names no database" {
		t.Errorf("orderq's ledger note = %q", note)
	}
	if h := doc.Header; h.Command != "loadtest compare" || h.Target.URL != gw.URL || h.Target.APIVersion != gatewaytest.APIVersion {
		t.Errorf("header %+v", h)
	}
	html, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"loadtest compare: orderq", `<pre class="comparison">`, "forupdate", `data-name="stock"`,
		"<tr><th>target</th><td>" + gw.URL + ", API version " + gatewaytest.APIVersion + "</td></tr>", `aria-label="Accept latency, every order"`} {
		if !strings.Contains(string(html), want) {
			t.Errorf("report does not contain %q", want)
		}
	}
	if strings.Contains(stderr.String(), "kept database") {
		t.Errorf("databases kept without --keep:\n%s", &stderr)
	}
}

// TestCompareKillsRedis crashes the redis strategy's Redis a moment into its
// run. Its writer waits a minute between batches, so what Redis confirmed
// before the crash is lost: the table says so in its lost orders column, the
// invariants fail, and only --expect-correct makes that the exit status. A
// crowd done before the crash is due is spared it, and loses nothing.
func TestCompareKillsRedis(t *testing.T) {
	server := testenv.Require(t, "TEST_MYSQL_DSN")
	redistest.Require(t)
	args := func(kill, orders string, more ...string) []string {
		return append([]string{"compare", "--mysql-dsn", server, "--strategies", "redis", "--kill-redis-after", kill,
			"--redis-write-every", "1m", "--stock", "100000", "--orders", orders, "--concurrency", "4", "--timeout", "60s"}, more...)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		killed bool
	}{
		{name: "reported", args: args("100ms", "3000"), code: cli.ExitOK, killed: true},
		{name: "expected correct", args: args("100ms", "3000", "--expect-correct"), code: cli.ExitFailed, killed: true},
		{name: "done before the crash", args: args("1m", "50", "--expect-correct"), code: cli.ExitOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			if got := cli.Code(err); got != tt.code {
				t.Fatalf("exit %d (%v), want %d\nstdout:\n%s\nstderr:\n%s", got, err, tt.code, &stdout, &stderr)
			}
			text := stdout.String()
			_, table, _ := strings.Cut(text, "\n\n")
			lines := strings.Split(table, "\n")
			cols := strings.Fields(strings.NewReplacer("lost updates", "lost_updates", "lost orders", "lost_orders").Replace(lines[0]))
			at := slices.Index(cols, "lost_orders")
			row := strings.Fields(lines[1])
			if at < 0 || len(row) <= at || row[0] != "redis" {
				t.Fatalf("no lost orders of redis in the table:\n%s", text)
			}
			lost, err := strconv.Atoi(row[at])
			if err != nil || (lost > 0) != tt.killed {
				t.Errorf("redis lost %q orders, killed %v:\n%s", row[at], tt.killed, text)
			}
			wantOut, wantErr := []string{"\nredis: Redis SIGKILLed 1", " into the run, restarted empty 1s later\n", "  - order_lost: "},
				[]string{"loadtest: redis: killed redis-server (pid ", " restarted empty\n"}
			if !tt.killed {
				note := "Redis not killed: the crowd had sent its 50 orders before --kill-redis-after 1m0s"
				wantOut, wantErr = []string{"\nredis: " + note + "\n"}, []string{"loadtest: redis: " + note + "\n"}
			}
			for _, want := range wantOut {
				if !strings.Contains(text, want) {
					t.Errorf("stdout does not contain %q:\n%s", want, text)
				}
			}
			for _, want := range wantErr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr does not contain %q:\n%s", want, &stderr)
				}
			}
		})
	}
}

// TestCompareWithoutRedis checks that a comparison whose Redis cannot be
// had stops before it runs anything, saying why.
func TestCompareWithoutRedis(t *testing.T) {
	server := testenv.Require(t, "TEST_MYSQL_DSN")
	tests := []struct {
		name string
		args []string
		path string // of PATH; empty keeps it
		err  string
	}{
		{name: "no redis-server", args: []string{"--strategies", "atomic,redis"}, path: t.TempDir(),
			err: "redis: redis-server is not installed"},
		{name: "a Redis that does not answer", args: []string{"--strategies", "atomic,redis", "--redis-url", "redis://127.0.0.1:1"},
			err: "--redis-url redis://127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.path != "" {
				t.Setenv("PATH", tt.path)
			}
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"compare", "--mysql-dsn", server, "--orders", "10"}, tt.args...), &stdout, &stderr)
			if got := cli.Code(err); got != cli.ExitCannot || !strings.Contains(err.Error(), tt.err) ||
				!strings.Contains(err.Error(), "--strategies without redis skips it") {
				t.Fatalf("exit %d (%v), want %d saying %q", got, err, cli.ExitCannot, tt.err)
			}
			if stdout.Len() != 0 || strings.Contains(stderr.String(), "compare atomic") {
				t.Errorf("a strategy ran:\nstdout:\n%s\nstderr:\n%s", &stdout, &stderr)
			}
		})
	}
}

// syncBuffer is a buffer the progress goroutine and the test may share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestProgress(t *testing.T) {
	var p crowd.Progress
	p.Sent.Store(120)
	p.Accepted.Store(110)
	p.Final.Store(100)
	p.Errors.Store(3)

	var out syncBuffer
	stop := startProgress(&out, true, "flashsale", &p, 1)
	time.Sleep(3 * progressEvery)
	stop()
	got := out.String()
	if !strings.Contains(got, "\r\033[Kflashsale  sent 120  accepted 110  final 100  errors 3  ") {
		t.Errorf("progress drew %q", got)
	}
	if !strings.HasSuffix(got, "\r\033[K") {
		t.Errorf("progress line not cleared at the end: %q", got)
	}

	var quiet syncBuffer
	startProgress(&quiet, false, "flashsale", &p, 1)()
	if quiet.String() != "" {
		t.Errorf("progress off a terminal drew %q", quiet.String())
	}
	if isTerminal(&quiet) {
		t.Error("a buffer is not a terminal")
	}
}

func TestProgressLine(t *testing.T) {
	var p crowd.Progress
	p.Items.Store(300)
	if got, want := progressLine("catalogue", &p, 1000, 0), "catalogue  creating items 300/1000"; got != want {
		t.Errorf("while creating items: %q, want %q", got, want)
	}
	p.Items.Store(1000)
	p.Sent.Store(5)
	p.Slipped.Store(2)
	if got, want := progressLine("catalogue", &p, 1000, 1234.4), "catalogue  sent 5  accepted 0  final 0  errors 0  slipped 2  1234 final/s"; got != want {
		t.Errorf("while ordering: %q, want %q", got, want)
	}
}

func TestRateWindow(t *testing.T) {
	var r rateWindow
	t0 := time.Now()
	if got := r.add(t0, 0); got != 0 {
		t.Errorf("first rate %v", got)
	}
	r.add(t0.Add(500*time.Millisecond), 500)
	if got := r.add(t0.Add(time.Second), 1000); got != 1000 {
		t.Errorf("rate over 1 s = %v, want 1000", got)
	}
	// Older samples leave the window: only the last second counts.
	if got := r.add(t0.Add(2*time.Second), 1100); got != 100 {
		t.Errorf("rate over the last second = %v, want 100", got)
	}
}

// TestCartsDatabaseUnreadable runs carts against a database that holds no
// orderq schema: the gateway's answers are still checked, but the run is not
// proven, so it fails with the reason instead of passing.
func TestCartsDatabaseUnreadable(t *testing.T) {
	dsn := testenv.Database(t)
	gw := gatewaytest.New(t, gatewaytest.Options{})
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"carts", "--url", gw.URL, "--admin-token", "secret", jwtSecret, "--mysql-dsn", dsn,
		"--items", "3", "--stock", "5", "--orders", "30", "--concurrency", "4", "--wait", "1", "--settle", "200ms"}, &stdout, &stderr)
	if got := cli.Code(err); got != cli.ExitCannot {
		t.Fatalf("exit %d (%v), want %d\nstdout:\n%s", got, err, cli.ExitCannot, &stdout)
	}
	for _, want := range []string{"ledger        not checked: read ledgers: ", "invariants    PASS"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout does not contain %q:\n%s", want, &stdout)
		}
	}
}

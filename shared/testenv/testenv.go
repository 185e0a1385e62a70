// Package testenv gives integration tests their own database and RabbitMQ vhost
// on the real servers named by TEST_MYSQL_DSN and TEST_AMQP_URL, so tests run in
// parallel without seeing each other. When a variable is unset the test is
// skipped with the reason, except under CI (CI set), where it fails: a missing
// service must never pass as green.
package testenv

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Require returns the variable key, skipping (or, under CI, failing) the test
// when it is unset.
func Require(t testing.TB, key string) string {
	t.Helper()
	v := os.Getenv(key)
	if v == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: integration tests need it under CI", key)
		}
		t.Skipf("%s is not set: set it (make test does) to run this integration test", key)
	}
	return v
}

// Name returns prefix followed by a random suffix, fit for a database or vhost.
func Name(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Database creates an empty database on the TEST_MYSQL_DSN server and returns a
// DSN for it; the database is dropped when the test ends.
func Database(t testing.TB) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(Require(t, "TEST_MYSQL_DSN"))
	if err != nil {
		t.Fatalf("TEST_MYSQL_DSN: %v", err)
	}
	cfg.DBName = ""
	server, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatalf("open mysql: %v", err)
	}
	t.Cleanup(func() { server.Close() })
	name := Name("orderq_test_")
	if _, err := server.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4"); err != nil {
		t.Fatalf("create database (is MariaDB running on %s?): %v", cfg.Addr, err)
	}
	t.Cleanup(func() {
		if _, err := server.Exec("DROP DATABASE IF EXISTS " + name); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	cfg.DBName = name
	cfg.ParseTime = true
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["charset"] = "utf8mb4"
	return cfg.FormatDSN()
}

// Vhost creates a vhost on the TEST_AMQP_URL broker, through its management API
// (TEST_RABBITMQ_API, by default port 15672 of the broker's host with the same
// credentials), and returns an AMQP URL for it; the vhost is deleted when the
// test ends.
func Vhost(t testing.TB) string {
	t.Helper()
	base, err := url.Parse(Require(t, "TEST_AMQP_URL"))
	if err != nil {
		t.Fatalf("TEST_AMQP_URL: %v", err)
	}
	api := ManagementAPI(t)
	name := Name("orderq_test_")
	user := base.User.Username()
	manage(t, api, http.MethodPut, "/api/vhosts/"+name, "")
	t.Cleanup(func() { manage(t, api, http.MethodDelete, "/api/vhosts/"+name, "") })
	manage(t, api, http.MethodPut, "/api/permissions/"+name+"/"+url.PathEscape(user),
		`{"configure":".*","write":".*","read":".*"}`)
	u := *base
	u.Path = "/" + name
	return u.String()
}

// ManagementAPI returns the URL, with credentials, of the management API of
// the TEST_AMQP_URL broker: TEST_RABBITMQ_API, or else port 15672 of the
// broker's host with its user.
func ManagementAPI(t testing.TB) string {
	t.Helper()
	if api := os.Getenv("TEST_RABBITMQ_API"); api != "" {
		return api
	}
	base, err := url.Parse(Require(t, "TEST_AMQP_URL"))
	if err != nil {
		t.Fatalf("TEST_AMQP_URL: %v", err)
	}
	u := url.URL{Scheme: "http", User: base.User, Host: base.Hostname() + ":15672"}
	return u.String()
}

func manage(t testing.TB, api, method, path, body string) {
	t.Helper()
	req, err := http.NewRequest(method, strings.TrimSuffix(api, "/")+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatalf("management request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	// No keep-alive: an idle connection would outlive the test (goleak).
	client := http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("RabbitMQ management API %s (is the rabbitmq_management plugin enabled?): %v", api, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s", method, path, resp.Status)
	}
}

// Env returns getenv for a map, for loadConfig tests.
func Env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orderq/orderq/loadtest/internal/gatewaytest"
)

func TestMasks(t *testing.T) {
	tests := []struct {
		flag, in, want string
	}{
		{flag: "admin-token", in: "tok-123", want: "***"},
		{flag: "jwt-secret", in: strings.Repeat("s", 32), want: "***"},
		{flag: "api-key", in: "key", want: "***"},
		{flag: "api-key", in: "", want: ""}, // not set says so
		{flag: "mysql-dsn", in: "root:@tcp(127.0.0.1:3306)/orderq?parseTime=true", want: "root:@tcp(127.0.0.1:3306)/orderq?parseTime=true"},
		{flag: "mysql-dsn", in: "orderq:pa:ss@wd@tcp(db:3306)/orderq?loc=UTC", want: "orderq:***@tcp(db:3306)/orderq?loc=UTC"},
		{flag: "mysql-dsn", in: "u:p@/x", want: "u:***@/x"},
		{flag: "mysql-dsn", in: "not a dsn: p@ss", want: "***"},
		{flag: "mysql-dsn", in: "", want: ""},
		{flag: "url", in: "http://127.0.0.1:8080", want: "http://127.0.0.1:8080"},
		{flag: "url", in: "https://ops:pw@gw.example:443/", want: "https://ops:xxxxx@gw.example:443/"},
		{flag: "stock", in: "100", want: "100"},
	}
	for _, tt := range tests {
		if got := mask(tt.flag, tt.in); got != tt.want {
			t.Errorf("mask(%s, %q) = %q, want %q", tt.flag, tt.in, got, tt.want)
		}
	}
}

func TestMaskArgs(t *testing.T) {
	_, fs, err := loadConfig("flashsale", nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args, want []string
	}{
		{name: "none", args: []string{}, want: []string{}},
		{
			name: "every form of a flag",
			args: []string{"--admin-token", "t1", "-admin-token=t2", "--jwt-secret=s", "-api-key", "k", "--mysql-dsn=u:p@tcp(h:1)/d",
				"--url", "http://u:p@h:1", "--stock", "5", "--json", "--report=out.html"},
			want: []string{"--admin-token", "***", "-admin-token=***", "--jwt-secret=***", "-api-key", "***", "--mysql-dsn=u:***@tcp(h:1)/d",
				"--url", "http://u:xxxxx@h:1", "--stock", "5", "--json", "--report=out.html"},
		},
		{
			name: "a boolean takes no value from the next argument",
			args: []string{"--json", "--admin-token", "t"},
			want: []string{"--json", "--admin-token", "***"},
		},
		{name: "an empty secret stays empty", args: []string{"--api-key="}, want: []string{"--api-key="}},
		{name: "after --, nothing is a flag", args: []string{"--", "--admin-token", "t"}, want: []string{"--", "--admin-token", "t"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.args)
			if got := maskArgs(fs, tt.args); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("maskArgs(%q) = %q, want %q", tt.args, got, tt.want)
			}
			if !reflect.DeepEqual(in, tt.args) {
				t.Errorf("maskArgs changed its argument: %q", tt.args)
			}
		})
	}
}

// TestHeaderOfAConfig: a command's header holds its command line as given
// and every flag in effect, from the command line, the environment or its
// default, with no secret in either.
func TestHeaderOfAConfig(t *testing.T) {
	args := []string{"--url", "http://gw:9000", "--jwt-secret=" + gatewaytest.JWTSecret, "--stock", "7"}
	before := time.Now().Add(-time.Millisecond)
	c, _, err := loadConfig("flashsale", args, env(map[string]string{
		"ADMIN_TOKEN": "admin-secret", "ORDERQ_URL": "http://ignored:1", "MYSQL_DSN": "orderq:db-secret@tcp(db:3306)/orderq",
		"STOREFRONT_API_KEYS": "key-a,key-b", "CUSTOMER_JWT_ISSUER": "shop",
	}))
	if err != nil {
		t.Fatal(err)
	}
	h := c.header
	if h.Command != "loadtest flashsale" || !reflect.DeepEqual(h.Args, []string{"--url", "http://gw:9000", "--jwt-secret=***", "--stock", "7"}) {
		t.Errorf("command %q, args %q", h.Command, h.Args)
	}
	for name, want := range map[string]string{
		"url": "http://gw:9000", "admin-token": "***", "jwt-secret": "***", "mysql-dsn": "orderq:***@tcp(db:3306)/orderq",
		"api-key": "***", // the first of STOREFRONT_API_KEYS
		"stock":   "7", "orders": "2000", "json": "false", "report": "", "auth": "",
	} {
		if got, ok := h.Flags[name]; !ok || got != want {
			t.Errorf("flag %s = %q (set %v), want %q", name, got, ok, want)
		}
	}
	// The variables read: the flags they set, and the credentials' own;
	// ORDERQ_URL lost to --url.
	wantEnv := map[string]string{"ADMIN_TOKEN": "***", "MYSQL_DSN": "orderq:***@tcp(db:3306)/orderq", "STOREFRONT_API_KEYS": "***", "CUSTOMER_JWT_ISSUER": "shop"}
	if !reflect.DeepEqual(h.Environment, wantEnv) {
		t.Errorf("environment %v, want %v", h.Environment, wantEnv)
	}
	if h.Started.Before(before.Truncate(time.Millisecond)) || h.Started.After(time.Now()) || h.Started.Location() != time.UTC {
		t.Errorf("started %v, want now in UTC", h.Started)
	}
	if h.Build.GoVersion == "" || h.Host.CPUs < 1 || h.Host.OS == "" {
		t.Errorf("build %+v, host %+v", h.Build, h.Host)
	}
}

func TestDescribeTarget(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Options{})
	bare := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(bare.Close)
	odd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"info":{}}`)) }))
	t.Cleanup(odd.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tests := []struct {
		name    string
		url     string
		version string
		note    string
	}{
		{name: "tells", url: gw.URL, version: gatewaytest.APIVersion},
		{name: "serves no document", url: bare.URL, note: "API version unknown: /openapi.json answered 404 Not Found"},
		{name: "serves one without a version", url: odd.URL, note: "API version unknown: /openapi.json has no info.version"},
		{name: "unreachable", url: closed.URL, note: "API version unknown: Get "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := describeTarget(context.Background(), tt.url)
			if got.URL != tt.url || got.APIVersion != tt.version || !strings.HasPrefix(got.Note, tt.note) || (tt.note == "") != (got.Note == "") {
				t.Errorf("describeTarget = %+v, want version %q, note %q…", got, tt.version, tt.note)
			}
		})
	}
}

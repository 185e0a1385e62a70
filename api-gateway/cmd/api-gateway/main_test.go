package main

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/orderq/orderq/shared/cli"
)

// TestLoadConfig checks that a gateway without the credentials it needs, or
// with secrets too short, refuses to start with a message naming the
// variable, and that AUTH=off is the one way to run without any.
func TestLoadConfig(t *testing.T) {
	const secret = "a-secret-of-thirty-two-bytes-or-more"
	base := map[string]string{"CUSTOMER_JWT_SECRET": secret, "ORDER_ID_SECRET": secret}
	with := func(kv ...string) map[string]string {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return env
	}
	tests := []struct {
		name string
		env  map[string]string
		err  string // empty: loads
	}{
		{name: "customer tokens", env: base},
		{name: "storefront keys only", env: with("CUSTOMER_JWT_SECRET", "", "STOREFRONT_API_KEYS", secret+"-1, "+secret+"-2")},
		{name: "no credential for orders", env: with("CUSTOMER_JWT_SECRET", ""), err: "STOREFRONT_API_KEYS"},
		{name: "AUTH=off", env: map[string]string{"AUTH": "off"}},
		{name: "AUTH=on without a credential", env: with("AUTH", "on", "CUSTOMER_JWT_SECRET", ""), err: "AUTH=off"},
		{name: "AUTH of another value", env: with("AUTH", "maybe"), err: "AUTH"},
		{name: "no ORDER_ID_SECRET", env: with("ORDER_ID_SECRET", ""), err: "ORDER_ID_SECRET"},
		{name: "short ORDER_ID_SECRET", env: with("ORDER_ID_SECRET", "short"), err: "ORDER_ID_SECRET"},
		{name: "short CUSTOMER_JWT_SECRET", env: with("CUSTOMER_JWT_SECRET", "short"), err: "CUSTOMER_JWT_SECRET"},
		{name: "short ADMIN_TOKEN", env: with("ADMIN_TOKEN", "change-me"), err: "ADMIN_TOKEN"},
		{name: "short storefront key", env: with("STOREFRONT_API_KEYS", secret+",short"), err: "STOREFRONT_API_KEYS"},
		{name: "short PAYMENT_WEBHOOK_SECRET", env: with("PAYMENT_WEBHOOK_SECRET", "short"), err: "PAYMENT_WEBHOOK_SECRET"},
		{name: "JWKS file and URL", env: with("CUSTOMER_JWKS_FILE", "/k.json", "CUSTOMER_JWKS_URL", "https://id.example/jwks"), err: "CUSTOMER_JWKS"},
		{name: "MAX_WAITERS out of range", env: with("MAX_WAITERS", "0"), err: "MAX_WAITERS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(func(k string) string { return tt.env[k] })
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("loadConfig: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("loadConfig = %v, want an error naming %s", err, tt.err)
			case tt.err == "" && len(cfg.OrderIDSecret) == 0:
				t.Fatal("no order id secret")
			}
		})
	}
}

// TestBadSettingIsAUsageError: a gateway with a bad setting stops before it
// connects to anything, and exits 2, as every orderq command does.
func TestBadSettingIsAUsageError(t *testing.T) {
	env := map[string]string{"AUTH": "maybe"}
	err := run(t.Context(), slog.New(slog.DiscardHandler), func(k string) string { return env[k] })
	if got := cli.Code(err); got != cli.ExitUsage {
		t.Fatalf("run = %v, exit status %d; want %d", err, got, cli.ExitUsage)
	}
}

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/orderq/orderq/shared/cli"
)

const secret = "0123456789abcdef0123456789abcdef"

func TestRun(t *testing.T) {
	withSecret := map[string]string{"CUSTOMER_JWT_SECRET": secret}
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		stdout []string // fragments stdout must contain
		err    string   // fragment of the error
		// claims, when set, checks the token printed on stdout.
		claims func(t *testing.T, c *jwt.RegisteredClaims)
	}{
		{
			name: "token",
			args: []string{"token", "--sub", "alice"},
			env:  withSecret,
			code: cli.ExitOK,
			claims: func(t *testing.T, c *jwt.RegisteredClaims) {
				t.Helper()
				if c.Subject != "alice" || c.Issuer != "" || len(c.Audience) != 0 {
					t.Errorf("claims = %+v, want sub alice and no iss or aud", c)
				}
				if got := c.ExpiresAt.Sub(c.IssuedAt.Time); got != 24*time.Hour {
					t.Errorf("valid for %v, want the default 24h", got)
				}
			},
		},
		{
			name: "token with ttl, issuer and audience",
			args: []string{"token", "--sub=bob", "--ttl=90m"},
			env:  map[string]string{"CUSTOMER_JWT_SECRET": secret, "CUSTOMER_JWT_ISSUER": "shop", "CUSTOMER_JWT_AUDIENCE": "orderq"},
			code: cli.ExitOK,
			claims: func(t *testing.T, c *jwt.RegisteredClaims) {
				t.Helper()
				if c.Subject != "bob" || c.Issuer != "shop" || len(c.Audience) != 1 || c.Audience[0] != "orderq" {
					t.Errorf("claims = %+v, want sub bob, iss shop, aud orderq", c)
				}
				if got := c.ExpiresAt.Sub(c.IssuedAt.Time); got != 90*time.Minute {
					t.Errorf("valid for %v, want 90m", got)
				}
			},
		},
		{name: "no secret", args: []string{"token", "--sub", "alice"}, code: cli.ExitCannot, err: "CUSTOMER_JWT_SECRET is not set"},
		{name: "short secret", args: []string{"token", "--sub", "alice"}, env: map[string]string{"CUSTOMER_JWT_SECRET": "short"},
			code: cli.ExitCannot, err: "CUSTOMER_JWT_SECRET must be at least 32 bytes"},
		{name: "no sub", args: []string{"token"}, env: withSecret, code: cli.ExitUsage, err: "--sub is required"},
		{name: "sub too long", args: []string{"token", "--sub", strings.Repeat("x", 65)}, env: withSecret, code: cli.ExitUsage, err: "--sub: customer_id must be 1 to 64"},
		{name: "zero ttl", args: []string{"token", "--sub", "alice", "--ttl", "0s"}, env: withSecret, code: cli.ExitUsage, err: "--ttl"},
		{name: "ttl beyond a year", args: []string{"token", "--sub", "alice", "--ttl", "9000h"}, env: withSecret, code: cli.ExitUsage, err: "--ttl"},
		{name: "bad ttl", args: []string{"token", "--sub", "alice", "--ttl", "soon"}, env: withSecret, code: cli.ExitUsage, err: "ttl"},
		{name: "unknown flag", args: []string{"token", "--sub", "alice", "--admin"}, env: withSecret, code: cli.ExitUsage, err: "-admin"},
		{name: "stray argument", args: []string{"token", "--sub", "alice", "now"}, env: withSecret, code: cli.ExitUsage, err: `unexpected argument "now"`},
		{name: "token help", args: []string{"token", "-h"}, code: cli.ExitOK,
			stdout: []string{"Usage: orderqctl token --sub ID", "CUSTOMER_JWT_SECRET", "-sub id", "-ttl"}},
		{name: "help", args: []string{"help"}, code: cli.ExitOK, stdout: []string{"orderqctl token --sub ID", "orderqctl help [command]", "Exit status"}},
		{name: "help of a command", args: []string{"help", "token"}, code: cli.ExitOK, stdout: []string{"Usage: orderqctl token", "-ttl duration"}},
		{name: "help of an unknown command", args: []string{"help", "audit-everything"}, code: cli.ExitUsage, err: `unknown command "audit-everything"`},
		{name: "no command", code: cli.ExitUsage, err: "no command"},
		{name: "unknown command", args: []string{"mint"}, code: cli.ExitUsage, err: `unknown command "mint"`},
		{name: "shards: a count of 0", args: []string{"shards", "change", "0"}, code: cli.ExitUsage, err: "want a shard count from 1 to"},
		{name: "shards: a count beyond the most", args: []string{"shards", "change", "257"}, code: cli.ExitUsage, err: "want a shard count from 1 to"},
		{name: "shards: a count that is no number", args: []string{"shards", "change", "four"}, code: cli.ExitUsage, err: "want a shard count"},
		{name: "shards: an unknown verb", args: []string{"shards", "grow", "4"}, code: cli.ExitUsage, err: "shards grow 4"},
		{name: "shards: a zero timeout", args: []string{"shards", "change", "4", "--timeout", "0s"}, code: cli.ExitUsage, err: "--timeout"},
		{name: "shards: no database", args: []string{"shards"}, code: cli.ExitCannot, err: "MYSQL_DSN and AMQP_URL must be set"},
		{name: "shards: a change without the management API", args: []string{"shards", "change", "4"},
			env: map[string]string{"MYSQL_DSN": "u:p@tcp(db:3306)/orderq", "AMQP_URL": "amqp://u:p@mq:5672/"}, code: cli.ExitCannot, err: "RABBITMQ_API is not set"},
		{name: "shards help", args: []string{"help", "shards"}, code: cli.ExitOK, stdout: []string{"Usage: orderqctl shards", "RABBITMQ_API", "-timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, env{getenv: func(k string) string { return tt.env[k] }, stdout: &stdout, stderr: &stderr})
			if got := cli.Code(err); got != tt.code {
				t.Fatalf("exit %d (%v), want %d\nstdout:\n%s", got, err, tt.code, &stdout)
			}
			if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("error %v does not say %q", err, tt.err)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout does not contain %q:\n%s", want, &stdout)
				}
			}
			if tt.claims == nil {
				return
			}
			out := stdout.String()
			if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
				t.Fatalf("stdout %q: want the token alone on one line", out)
			}
			var c jwt.RegisteredClaims
			_, err = jwt.ParseWithClaims(strings.TrimSuffix(out, "\n"), &c, func(*jwt.Token) (any, error) { return []byte(secret), nil },
				jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
			if err != nil {
				t.Fatalf("the printed token does not verify: %v", err)
			}
			tt.claims(t, &c)
		})
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{name: "success", want: cli.ExitOK},
		{name: "audit failed", err: fmt.Errorf("%w: 3 items", cli.ErrFailed), want: cli.ExitFailed},
		{name: "usage", err: cli.UsageError{Err: errors.New("no command"), Help: "orderqctl help"}, want: cli.ExitUsage},
		{name: "cannot run", err: errors.New("CUSTOMER_JWT_SECRET is not set"), want: cli.ExitCannot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cli.Code(tt.err); got != tt.want {
				t.Errorf("cli.Code(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

package token_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/orderq/orderq/shared/token"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// parse verifies s as the gateway does: HS256 only, exp required.
func parse(t *testing.T, s string, key []byte, opts ...jwt.ParserOption) (*jwt.RegisteredClaims, error) {
	t.Helper()
	var c jwt.RegisteredClaims
	opts = append([]jwt.ParserOption{jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt()}, opts...)
	_, err := jwt.ParseWithClaims(s, &c, func(*jwt.Token) (any, error) { return key, nil }, opts...)
	return &c, err
}

func TestMint(t *testing.T) {
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	tests := []struct {
		name  string
		mint  func() (string, error)
		parse []jwt.ParserOption
		check func(t *testing.T, c *jwt.RegisteredClaims)
		err   error // of verifying; nil when it must verify
	}{
		{
			name: "subject and times",
			mint: func() (string, error) { return token.Mint(secret, "alice", 24*time.Hour) },
			check: func(t *testing.T, c *jwt.RegisteredClaims) {
				t.Helper()
				now := time.Now()
				if c.Subject != "alice" || c.Issuer != "" || len(c.Audience) != 0 || c.ID == "" {
					t.Errorf("claims = %+v, want sub alice, a jti and no iss or aud", c)
				}
				if c.IssuedAt == nil || c.NotBefore == nil || c.ExpiresAt == nil {
					t.Fatalf("claims = %+v, want iat, nbf and exp", c)
				}
				if d := now.Sub(c.IssuedAt.Time); d < 0 || d > time.Minute || !c.NotBefore.Equal(c.IssuedAt.Time) {
					t.Errorf("iat %v, nbf %v; want both now (%v)", c.IssuedAt, c.NotBefore, now)
				}
				if got := c.ExpiresAt.Sub(c.IssuedAt.Time); got != 24*time.Hour {
					t.Errorf("exp − iat = %v, want 24h", got)
				}
			},
		},
		{
			name: "issuer and audience",
			mint: func() (string, error) {
				return token.Mint(secret, "bob", time.Hour, token.WithIssuer("shop"), token.WithAudience("orderq"))
			},
			parse: []jwt.ParserOption{jwt.WithIssuer("shop"), jwt.WithAudience("orderq")},
			check: func(t *testing.T, c *jwt.RegisteredClaims) {
				t.Helper()
				if c.Subject != "bob" || c.Issuer != "shop" || len(c.Audience) != 1 || c.Audience[0] != "orderq" {
					t.Errorf("claims = %+v", c)
				}
			},
		},
		{
			name: "config from the environment",
			mint: func() (string, error) {
				c, err := token.FromEnv(env(map[string]string{token.EnvSecret: string(secret), token.EnvIssuer: "shop", token.EnvAudience: "orderq"}))
				if err != nil {
					return "", err
				}
				return c.Mint("carol", time.Hour)
			},
			parse: []jwt.ParserOption{jwt.WithIssuer("shop"), jwt.WithAudience("orderq")},
			check: func(t *testing.T, c *jwt.RegisteredClaims) {
				t.Helper()
				if c.Subject != "carol" || c.Issuer != "shop" {
					t.Errorf("claims = %+v", c)
				}
			},
		},
		{
			name:  "the wrong issuer is refused",
			mint:  func() (string, error) { return token.Mint(secret, "bob", time.Hour, token.WithIssuer("elsewhere")) },
			parse: []jwt.ParserOption{jwt.WithIssuer("shop")},
			err:   jwt.ErrTokenInvalidIssuer,
		},
		{
			name:  "no audience where one is checked is refused",
			mint:  func() (string, error) { return token.Mint(secret, "bob", time.Hour) },
			parse: []jwt.ParserOption{jwt.WithAudience("orderq")},
			err:   jwt.ErrTokenRequiredClaimMissing,
		},
		{
			name: "expired",
			mint: func() (string, error) { return token.Mint(secret, "dave", time.Minute, token.IssuedAt(t0)) },
			err:  jwt.ErrTokenExpired,
		},
		{
			name: "issued in the future is not valid yet",
			mint: func() (string, error) {
				return token.Mint(secret, "erin", time.Hour, token.IssuedAt(time.Now().Add(time.Hour)))
			},
			err: jwt.ErrTokenNotValidYet,
		},
		{
			name: "another secret does not verify it",
			mint: func() (string, error) {
				return token.Mint([]byte(strings.Repeat("x", token.MinSecretLen)), "frank", time.Hour)
			},
			err: jwt.ErrTokenSignatureInvalid,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.mint()
			if err != nil {
				t.Fatalf("mint: %v", err)
			}
			c, err := parse(t, s, secret, tt.parse...)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("verify = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestMintIsUnique(t *testing.T) {
	a, err := token.Mint(secret, "alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b, err := token.Mint(secret, "alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Error("two tokens minted for one customer in the same second are the same: no jti")
	}
}

func TestMintRefuses(t *testing.T) {
	tests := []struct {
		name   string
		secret []byte
		sub    string
		ttl    time.Duration
		err    error // nil: any error
	}{
		{name: "no secret", sub: "alice", ttl: time.Hour, err: token.ErrNoSecret},
		{name: "short secret", secret: secret[:31], sub: "alice", ttl: time.Hour, err: token.ErrShortSecret},
		{name: "no subject", secret: secret, ttl: time.Hour},
		{name: "no ttl", secret: secret, sub: "alice"},
		{name: "negative ttl", secret: secret, sub: "alice", ttl: -time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := token.Mint(tt.secret, tt.sub, tt.ttl)
			if err == nil || (tt.err != nil && !errors.Is(err, tt.err)) {
				t.Errorf("Mint = %q, %v; want error %v", s, err, tt.err)
			}
		})
	}
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want token.Config
		err  string
	}{
		{name: "unset", want: token.Config{Secret: []byte{}}},
		{
			name: "every variable",
			env:  map[string]string{token.EnvSecret: string(secret), token.EnvIssuer: "shop", token.EnvAudience: "orderq"},
			want: token.Config{Secret: secret, Issuer: "shop", Audience: "orderq"},
		},
		{name: "short secret", env: map[string]string{token.EnvSecret: "short"}, err: "CUSTOMER_JWT_SECRET must be at least 32 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := token.FromEnv(env(tt.env))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("FromEnv = %v, want an error saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("FromEnv: %v", err)
			}
			if string(c.Secret) != string(tt.want.Secret) || c.Issuer != tt.want.Issuer || c.Audience != tt.want.Audience {
				t.Errorf("FromEnv = %+v, want %+v", c, tt.want)
			}
		})
	}
}

// BenchmarkMint is what the load tester pays per buyer before a run.
func BenchmarkMint(b *testing.B) {
	c := token.Config{Secret: secret, Issuer: "shop", Audience: "orderq"}
	for b.Loop() {
		if _, err := c.Mint("c-123456", time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

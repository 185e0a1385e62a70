// Package token mints the customer tokens the gateway accepts: JWTs signed
// with HS256 and the gateway's CUSTOMER_JWT_SECRET, whose subject is the
// customer. The gateway checks them; this package is for the programs that
// act for customers (orderqctl, the load tester) and for tests.
//
// A token carries sub, exp, iat, nbf and a random jti, and iss and aud when
// the gateway checks them (CUSTOMER_JWT_ISSUER, CUSTOMER_JWT_AUDIENCE).
// Tokens signed with RS256 or ES256 come from an identity provider, not from
// orderq.
package token

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The gateway's variables for customer tokens.
const (
	EnvSecret   = "CUSTOMER_JWT_SECRET"
	EnvIssuer   = "CUSTOMER_JWT_ISSUER"
	EnvAudience = "CUSTOMER_JWT_AUDIENCE"
)

// MinSecretLen is the shortest secret the gateway accepts, in bytes: HS256's
// key should be at least as long as its hash.
const MinSecretLen = 32

var (
	// ErrNoSecret is a minting request without a secret.
	ErrNoSecret = errors.New("no secret")
	// ErrShortSecret is a secret the gateway would refuse.
	ErrShortSecret = fmt.Errorf("secret shorter than %d bytes", MinSecretLen)
)

// Option sets a claim of a token being minted.
type Option func(*jwt.RegisteredClaims)

// WithIssuer sets iss; an empty iss is left out.
func WithIssuer(iss string) Option {
	return func(c *jwt.RegisteredClaims) { c.Issuer = iss }
}

// WithAudience sets aud; an empty aud is left out.
func WithAudience(aud string) Option {
	return func(c *jwt.RegisteredClaims) {
		if aud != "" {
			c.Audience = jwt.ClaimStrings{aud}
		}
	}
}

// IssuedAt mints the token as if at t instead of now: iat and nbf are t, and
// exp is t plus the ttl.
func IssuedAt(t time.Time) Option {
	return func(c *jwt.RegisteredClaims) {
		ttl := c.ExpiresAt.Sub(c.IssuedAt.Time)
		c.IssuedAt, c.NotBefore, c.ExpiresAt = jwt.NewNumericDate(t), jwt.NewNumericDate(t), jwt.NewNumericDate(t.Add(ttl))
	}
}

// Mint returns a token for the customer sub, valid for ttl from now, signed
// with HS256 and secret.
func Mint(secret []byte, sub string, ttl time.Duration, opts ...Option) (string, error) {
	switch {
	case len(secret) == 0:
		return "", fmt.Errorf("mint token: %w", ErrNoSecret)
	case len(secret) < MinSecretLen:
		return "", fmt.Errorf("mint token: %w", ErrShortSecret)
	case sub == "":
		return "", errors.New("mint token: no subject")
	case ttl <= 0:
		return "", fmt.Errorf("mint token: ttl %s is not positive", ttl)
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	now := time.Now()
	c := jwt.RegisteredClaims{
		Subject:   sub,
		ID:        base64.RawURLEncoding.EncodeToString(id[:]),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	for _, o := range opts {
		o(&c)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	return s, nil
}

// Config is what minting a token the gateway accepts takes: its secret, and
// the issuer and audience it checks, if any.
type Config struct {
	Secret   []byte
	Issuer   string
	Audience string
}

// FromEnv reads CUSTOMER_JWT_SECRET, CUSTOMER_JWT_ISSUER and
// CUSTOMER_JWT_AUDIENCE, as the gateway does. An unset secret leaves Secret
// empty; one the gateway would refuse is an error naming the variable.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{Secret: []byte(getenv(EnvSecret)), Issuer: getenv(EnvIssuer), Audience: getenv(EnvAudience)}
	if len(c.Secret) > 0 && len(c.Secret) < MinSecretLen {
		return c, fmt.Errorf("%s must be at least %d bytes, is %d", EnvSecret, MinSecretLen, len(c.Secret))
	}
	return c, nil
}

// Mint returns a token for the customer sub, valid for ttl from now.
func (c Config) Mint(sub string, ttl time.Duration, opts ...Option) (string, error) {
	return Mint(c.Secret, sub, ttl, append([]Option{WithIssuer(c.Issuer), WithAudience(c.Audience)}, opts...)...)
}

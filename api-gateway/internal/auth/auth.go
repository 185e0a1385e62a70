// Package auth tells who a request comes from: a customer, by a JWT of the
// storefront's identity provider; a storefront server, by an API key; or an
// operator, by the admin token. It knows nothing of HTTP routes: the API
// decides what each identity may do.
package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/orderq/orderq/shared/message"
)

// Role is what kind of caller an identity is.
type Role uint8

// Roles, from the least trusted.
const (
	Anonymous Role = iota
	Customer
	Storefront
	Admin
)

func (r Role) String() string {
	switch r {
	case Customer:
		return "customer"
	case Storefront:
		return "storefront"
	case Admin:
		return "admin"
	}
	return "anonymous"
}

// Identity is who a request comes from.
type Identity struct {
	Role Role
	// Customer is a customer's id: the token's sub. Empty for the other roles,
	// which name the customer they act for in the request.
	Customer string
}

// ErrInvalid means a credential was sent and is not valid: a token expired,
// wrongly signed, of the wrong issuer or audience, or a key that is not one.
var ErrInvalid = errors.New("invalid credential")

// ErrAmbiguous is a request with two credentials: which one counts is never
// guessed.
var ErrAmbiguous = fmt.Errorf("%w: send Authorization or X-API-Key, not both", ErrInvalid)

// ErrExpired is a customer token past its exp: the client should get a new one.
var ErrExpired = fmt.Errorf("%w: the token has expired", ErrInvalid)

// Leeway is the clock skew allowed on a token's exp, nbf and iat.
const Leeway = 30 * time.Second

// MinSecretLen is the least length of every secret: the admin token, API keys,
// and the HS256 key (RFC 7518, section 3.2: a key as long as the hash).
const MinSecretLen = 32

// Config says which credentials are accepted.
type Config struct {
	AdminToken     string   // empty: no admin
	StorefrontKeys []string // STOREFRONT_API_KEYS
	JWTSecret      []byte   // HS256 customer tokens; empty: none
	JWKSFile       string   // RS256/ES256 customer tokens, keys from a JWK Set document
	JWKSURL        string   // the same, fetched and refreshed
	Issuer         string   // required iss when set
	Audience       string   // required aud when set
	// Open is AUTH=off: requests without a credential act as a storefront.
	Open bool
}

// Customers reports whether customer tokens are accepted.
func (c Config) Customers() bool {
	return len(c.JWTSecret) > 0 || c.JWKSFile != "" || c.JWKSURL != ""
}

// Validate checks the configuration: secrets long enough, and some way for
// customers or storefronts to order unless Open.
func (c Config) Validate() error {
	if c.AdminToken != "" && len(c.AdminToken) < MinSecretLen {
		return fmt.Errorf("ADMIN_TOKEN must be at least %d characters", MinSecretLen)
	}
	for i, k := range c.StorefrontKeys {
		if len(k) < MinSecretLen {
			return fmt.Errorf("STOREFRONT_API_KEYS: key %d must be at least %d characters", i+1, MinSecretLen)
		}
	}
	if len(c.JWTSecret) > 0 && len(c.JWTSecret) < MinSecretLen {
		return fmt.Errorf("CUSTOMER_JWT_SECRET must be at least %d bytes", MinSecretLen)
	}
	if c.JWKSFile != "" && c.JWKSURL != "" {
		return errors.New("set CUSTOMER_JWKS_FILE or CUSTOMER_JWKS_URL, not both")
	}
	if !c.Open && !c.Customers() && len(c.StorefrontKeys) == 0 {
		return errors.New("no credential configured for orders: set CUSTOMER_JWT_SECRET, CUSTOMER_JWKS_FILE, " +
			"CUSTOMER_JWKS_URL or STOREFRONT_API_KEYS, or AUTH=off to run without (a local try only)")
	}
	return nil
}

// Authenticator checks credentials. It is safe for concurrent use.
type Authenticator struct {
	open       bool
	adminHash  []byte   // nil: no admin
	storefront [][]byte // hashes of the API keys
	parser     *jwt.Parser
	secret     []byte
	keys       keyfunc.Keyfunc // nil: no RS256/ES256
}

// New returns an Authenticator for cfg. A JWK Set URL is fetched in the
// background and refreshed until ctx ends.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Authenticator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Authenticator{open: cfg.Open, secret: cfg.JWTSecret}
	if cfg.AdminToken != "" {
		a.adminHash = hash(cfg.AdminToken)
	}
	for _, k := range cfg.StorefrontKeys {
		a.storefront = append(a.storefront, hash(k))
	}
	var methods []string
	if len(cfg.JWTSecret) > 0 {
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	switch {
	case cfg.JWKSFile != "":
		raw, err := os.ReadFile(cfg.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("CUSTOMER_JWKS_FILE: %w", err)
		}
		if a.keys, err = keyfunc.NewJWKSetJSON(json.RawMessage(raw)); err != nil {
			return nil, fmt.Errorf("CUSTOMER_JWKS_FILE %s: %w", cfg.JWKSFile, err)
		}
	case cfg.JWKSURL != "":
		var err error
		a.keys, err = keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
			HTTPTimeout:     10 * time.Second,
			RefreshInterval: 15 * time.Minute,
			RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
				return func(_ context.Context, err error) { log.Warn("refresh JWK Set", "url", u, "err", err) }
			},
		})
		if err != nil {
			return nil, fmt.Errorf("CUSTOMER_JWKS_URL: %w", err)
		}
	}
	if a.keys != nil {
		methods = append(methods, jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg())
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(methods), jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(Leeway),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	a.parser = jwt.NewParser(opts...)
	return a, nil
}

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// Identify returns who sent a request with these Authorization and X-API-Key
// headers. No credential is Anonymous (a storefront when Open); a credential
// that is not valid is ErrInvalid, wrapped with the reason.
func (a *Authenticator) Identify(authorization, apiKey string) (Identity, error) {
	switch {
	case authorization != "" && apiKey != "":
		return Identity{}, ErrAmbiguous
	case apiKey != "":
		if a.isStorefront(apiKey) {
			return Identity{Role: Storefront}, nil
		}
		return Identity{}, fmt.Errorf("%w: unknown API key", ErrInvalid)
	case authorization == "":
		if a.open {
			return Identity{Role: Storefront}, nil
		}
		return Identity{}, nil
	}
	// The scheme name is case-insensitive (RFC 9110, section 11.1).
	scheme, token, _ := strings.Cut(authorization, " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return Identity{}, fmt.Errorf("%w: want Authorization: Bearer <token>", ErrInvalid)
	}
	if a.adminHash != nil && subtle.ConstantTimeCompare(hash(token), a.adminHash) == 1 {
		return Identity{Role: Admin}, nil
	}
	return a.customer(token)
}

// isStorefront compares key with every API key, each in constant time.
func (a *Authenticator) isStorefront(key string) bool {
	h := hash(key)
	ok := 0
	for _, k := range a.storefront {
		ok |= subtle.ConstantTimeCompare(h, k)
	}
	return ok == 1
}

// customer verifies a customer token.
func (a *Authenticator) customer(token string) (Identity, error) {
	if len(a.secret) == 0 && a.keys == nil {
		return Identity{}, fmt.Errorf("%w: customer tokens are not accepted here", ErrInvalid)
	}
	var claims claims
	if _, err := a.parser.ParseWithClaims(token, &claims, a.key); err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Identity{}, ErrExpired
		}
		return Identity{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := message.ValidCustomerID(claims.subject); err != nil {
		return Identity{}, fmt.Errorf("%w: sub: %v", ErrInvalid, err)
	}
	return Identity{Role: Customer, Customer: claims.subject}, nil
}

// key picks the verification key by the token's algorithm, which the parser
// has already checked is one of those configured: the shared secret for HS256
// only, and public keys of the JWK Set for RS256 and ES256 only, so that no
// token can be verified with a key of another kind (algorithm confusion).
func (a *Authenticator) key(t *jwt.Token) (any, error) {
	switch t.Method.(type) {
	case *jwt.SigningMethodHMAC:
		return a.secret, nil
	case *jwt.SigningMethodRSA, *jwt.SigningMethodECDSA:
		k, err := a.keys.Keyfunc(t)
		if err != nil {
			return nil, err
		}
		return publicOnly(k)
	}
	return nil, fmt.Errorf("algorithm %s not accepted", t.Method.Alg())
}

// publicOnly keeps the RSA and ECDSA public keys of what the JWK Set gave.
func publicOnly(k any) (any, error) {
	switch k := k.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
		return k, nil
	case jwt.VerificationKeySet:
		var set jwt.VerificationKeySet
		for _, key := range k.Keys {
			if _, err := publicOnly(key); err == nil {
				set.Keys = append(set.Keys, key)
			}
		}
		return set, nil
	}
	return nil, errors.New("the JWK Set holds no public key for this token")
}

package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	testSecret     = []byte("a-customer-secret-of-32-bytes-at-least")
	testAdmin      = "an-admin-token-of-32-characters-at-least"
	testStorefront = "a-storefront-key-of-32-characters-at-least"
)

// keys is a JWK Set of one RSA and one EC key, written to a file.
type keys struct {
	rsa  *rsa.PrivateKey
	ec   *ecdsa.PrivateKey
	file string
}

func newKeys(t *testing.T) keys {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	ecPub, err := ek.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "rsa-1", "alg": "RS256", "use": "sig", "n": b64(rk.N.Bytes()), "e": b64(big.NewInt(int64(rk.E)).Bytes())},
		{"kty": "EC", "kid": "ec-1", "alg": "ES256", "use": "sig", "crv": "P-256", "x": b64(ecPub[1:33]), "y": b64(ecPub[33:])},
	}}
	raw, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return keys{rsa: rk, ec: ek, file: file}
}

func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

func tokenClaims(sub string, mod func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{"sub": sub, "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(),
		"iss": "https://id.example", "aud": "orderq"}
	if mod != nil {
		mod(c)
	}
	return c
}

func TestIdentify(t *testing.T) {
	k := newKeys(t)
	a, err := New(t.Context(), Config{
		AdminToken: testAdmin, StorefrontKeys: []string{"another-storefront-key-of-32-characters", testStorefront},
		JWTSecret: testSecret, JWKSFile: k.file, Issuer: "https://id.example", Audience: "orderq",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&k.rsa.PublicKey))})
	hs := func(mod func(jwt.MapClaims)) string {
		return sign(t, jwt.SigningMethodHS256, testSecret, "", tokenClaims("alice", mod))
	}
	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", tokenClaims("alice", nil))
	tests := []struct {
		name          string
		authorization string
		apiKey        string
		want          Identity
		invalid       bool
	}{
		{name: "no credential", want: Identity{Role: Anonymous}},
		{name: "admin", authorization: "Bearer " + testAdmin, want: Identity{Role: Admin}},
		{name: "admin, scheme in lower case", authorization: "bearer " + testAdmin, want: Identity{Role: Admin}},
		{name: "storefront key", apiKey: testStorefront, want: Identity{Role: Storefront}},
		{name: "unknown key", apiKey: testStorefront + "x", invalid: true},
		{name: "both credentials", authorization: "Bearer " + testAdmin, apiKey: testStorefront, invalid: true},
		{name: "basic scheme", authorization: "Basic " + testAdmin, invalid: true},
		{name: "empty bearer", authorization: "Bearer ", invalid: true},
		{name: "HS256", authorization: "Bearer " + hs(nil), want: Identity{Role: Customer, Customer: "alice"}},
		{name: "RS256 from the JWK Set", authorization: "Bearer " + sign(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", tokenClaims("bob", nil)),
			want: Identity{Role: Customer, Customer: "bob"}},
		{name: "ES256 from the JWK Set", authorization: "Bearer " + sign(t, jwt.SigningMethodES256, k.ec, "ec-1", tokenClaims("carol", nil)),
			want: Identity{Role: Customer, Customer: "carol"}},
		{name: "RS256 without kid", authorization: "Bearer " + sign(t, jwt.SigningMethodRS256, k.rsa, "", tokenClaims("bob", nil)),
			want: Identity{Role: Customer, Customer: "bob"}},
		{name: "expired", authorization: "Bearer " + hs(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), invalid: true},
		{name: "expired within the leeway", authorization: "Bearer " + hs(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-Leeway / 2).Unix() }),
			want: Identity{Role: Customer, Customer: "alice"}},
		{name: "no exp", authorization: "Bearer " + hs(func(c jwt.MapClaims) { delete(c, "exp") }), invalid: true},
		{name: "not yet valid", authorization: "Bearer " + hs(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() }), invalid: true},
		{name: "issued in the future", authorization: "Bearer " + hs(func(c jwt.MapClaims) { c["iat"] = time.Now().Add(time.Hour).Unix() }), invalid: true},
		{name: "wrong issuer", authorization: "Bearer " + hs(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }), invalid: true},
		{name: "no issuer", authorization: "Bearer " + hs(func(c jwt.MapClaims) { delete(c, "iss") }), invalid: true},
		{name: "wrong audience", authorization: "Bearer " + hs(func(c jwt.MapClaims) { c["aud"] = "another-api" }), invalid: true},
		{name: "no sub", authorization: "Bearer " + hs(func(c jwt.MapClaims) { delete(c, "sub") }), invalid: true},
		{name: "sub too long", authorization: "Bearer " + hs(func(c jwt.MapClaims) { c["sub"] = strings.Repeat("a", 65) }), invalid: true},
		{name: "wrong secret", authorization: "Bearer " + sign(t, jwt.SigningMethodHS256, []byte("another-secret-of-32-bytes-at-least!!"), "", tokenClaims("alice", nil)), invalid: true},
		{name: "alg none", authorization: "Bearer " + none, invalid: true},
		{name: "HS384 not accepted", authorization: "Bearer " + sign(t, jwt.SigningMethodHS384, testSecret, "", tokenClaims("alice", nil)), invalid: true},
		{name: "HS256 signed with the RSA public key (algorithm confusion)",
			authorization: "Bearer " + sign(t, jwt.SigningMethodHS256, pubPEM, "rsa-1", tokenClaims("alice", nil)), invalid: true},
		{name: "RS256 with an unknown key", authorization: "Bearer " + sign(t, jwt.SigningMethodRS256, must(rsa.GenerateKey(rand.Reader, 2048)), "rsa-1", tokenClaims("bob", nil)), invalid: true},
		{name: "RS256 naming the EC key", authorization: "Bearer " + sign(t, jwt.SigningMethodRS256, k.rsa, "ec-1", tokenClaims("bob", nil)), invalid: true},
		{name: "garbage", authorization: "Bearer not.a.token", invalid: true},
		{name: "audience in a list", authorization: "Bearer " + hs(func(c jwt.MapClaims) { c["aud"] = []string{"another-api", "orderq"} }),
			want: Identity{Role: Customer, Customer: "alice"}},
		{name: "audience list without ours", authorization: "Bearer " + hs(func(c jwt.MapClaims) { c["aud"] = []string{"another-api"} }), invalid: true},
		{name: "audience a number", authorization: "Bearer " + hs(func(c jwt.MapClaims) { c["aud"] = 7 }), invalid: true},
		{name: "exp a string", authorization: "Bearer " + hs(func(c jwt.MapClaims) { c["exp"] = fmt.Sprint(time.Now().Add(time.Hour).Unix()) }), invalid: true},
		{name: "exp with a fraction", authorization: "Bearer " + hs(func(c jwt.MapClaims) { c["exp"] = float64(time.Now().Add(time.Hour).Unix()) + 0.5 }),
			want: Identity{Role: Customer, Customer: "alice"}},
		{name: "sub a number", authorization: "Bearer " + hs(func(c jwt.MapClaims) { c["sub"] = 42 }), invalid: true},
		{name: "claims not an object", authorization: "Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, "", nil), invalid: true},
		{name: "admin token with a suffix", authorization: "Bearer " + testAdmin + "x", invalid: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.Identify(tt.authorization, tt.apiKey)
			if tt.invalid {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("Identify = %+v, %v; want ErrInvalid", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Identify = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestIdentifyJWKSURL verifies tokens with the keys of a JWK Set fetched from
// CUSTOMER_JWKS_URL, and fetches the set again for a kid it does not know: the
// provider rotated its keys.
func TestIdentifyJWKSURL(t *testing.T) {
	first, second := newKeys(t), newKeys(t)
	// The second set names its keys rsa-2 and ec-2.
	raw, err := os.ReadFile(second.file)
	if err != nil {
		t.Fatal(err)
	}
	rotated := filepath.Join(t.TempDir(), "rotated.json")
	if err := os.WriteFile(rotated, []byte(strings.NewReplacer("-1", "-2").Replace(string(raw))), 0o600); err != nil {
		t.Fatal(err)
	}
	var served atomic.Pointer[string]
	served.Store(&first.file)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, *served.Load())
	}))
	t.Cleanup(srv.Close)
	a, err := New(t.Context(), Config{JWKSURL: srv.URL}, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	noIssuer := func(c jwt.MapClaims) { delete(c, "iss"); delete(c, "aud") }
	tok := sign(t, jwt.SigningMethodES256, first.ec, "ec-1", tokenClaims("bob", noIssuer))
	if got, err := a.Identify("Bearer "+tok, ""); err != nil || got != (Identity{Role: Customer, Customer: "bob"}) {
		t.Fatalf("a token of a key at the URL = %+v, %v", got, err)
	}
	tok = sign(t, jwt.SigningMethodES256, second.ec, "ec-1", tokenClaims("bob", noIssuer))
	if _, err := a.Identify("Bearer "+tok, ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a token of another key under a known kid = %v, want ErrInvalid", err)
	}
	served.Store(&rotated)
	tok = sign(t, jwt.SigningMethodES256, second.ec, "ec-2", tokenClaims("carol", noIssuer))
	if got, err := a.Identify("Bearer "+tok, ""); err != nil || got != (Identity{Role: Customer, Customer: "carol"}) {
		t.Fatalf("a token of a key the provider added = %+v, %v", got, err)
	}
}

func TestIdentifyOpen(t *testing.T) {
	a, err := New(t.Context(), Config{Open: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := a.Identify("", ""); err != nil || got.Role != Storefront {
		t.Errorf("no credential with AUTH=off = %+v, %v; want a storefront", got, err)
	}
	if _, err := a.Identify("Bearer "+testAdmin, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("an admin token with no ADMIN_TOKEN configured = %v; want ErrInvalid", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{name: "nothing configured", cfg: Config{}},
		{name: "AUTH=off", cfg: Config{Open: true}, ok: true},
		{name: "customer secret", cfg: Config{JWTSecret: testSecret}, ok: true},
		{name: "storefront key", cfg: Config{StorefrontKeys: []string{testStorefront}}, ok: true},
		{name: "JWK Set file", cfg: Config{JWKSFile: "/some/file"}, ok: true},
		{name: "short customer secret", cfg: Config{JWTSecret: []byte("short")}},
		{name: "short storefront key", cfg: Config{StorefrontKeys: []string{"short"}}},
		{name: "short admin token", cfg: Config{AdminToken: "t", JWTSecret: testSecret}},
		{name: "JWK Set file and URL", cfg: Config{JWKSFile: "/f", JWKSURL: "https://id.example/jwks"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func BenchmarkIdentifyHS256(b *testing.B) {
	a, err := New(b.Context(), Config{JWTSecret: testSecret}, nil)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "customer-12345", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
	}).SignedString(testSecret)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Identify("Bearer "+tok, ""); err != nil {
			b.Fatal(err)
		}
	}
}

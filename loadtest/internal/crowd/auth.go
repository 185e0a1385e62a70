package crowd

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orderq/orderq/shared/token"
)

// Auth is how the buyers prove who they are to the gateway.
type Auth string

const (
	// AuthNone sends no credential: for a gateway run with AUTH=off, which
	// takes such callers for a storefront.
	AuthNone Auth = "none"
	// AuthToken gives every buyer a customer token of their own (Config.Tokens),
	// sent as Authorization: Bearer. The buyer is the token's subject, and
	// the order's body names no customer.
	AuthToken Auth = "token"
	// AuthStorefront sends every request with the storefront's X-API-Key
	// (Config.APIKey), naming the buyer in the body, as a storefront server
	// ordering for its customers does.
	AuthStorefront Auth = "storefront"
)

// Auths is every Auth, as a command line names them.
var Auths = []Auth{AuthToken, AuthStorefront, AuthNone}

// ParseAuth reads the name of an Auth.
func ParseAuth(s string) (Auth, error) {
	for _, a := range Auths {
		if string(a) == s {
			return a, nil
		}
	}
	return "", fmt.Errorf("auth %q: want token, storefront or none", s)
}

// auth is c's Auth, AuthNone when unset.
func (c Config) auth() Auth {
	if c.Auth == "" {
		return AuthNone
	}
	return c.Auth
}

// validAuth reports what is missing for c's Auth.
func (c Config) validAuth() error {
	switch c.auth() {
	case AuthNone:
		return nil
	case AuthToken:
		if len(c.Tokens.Secret) < token.MinSecretLen {
			return fmt.Errorf("auth token needs the gateway's customer token secret, at least %d bytes", token.MinSecretLen)
		}
		return nil
	case AuthStorefront:
		if c.APIKey == "" {
			return errors.New("auth storefront needs a storefront API key")
		}
		return nil
	default:
		_, err := ParseAuth(string(c.Auth))
		return err
	}
}

// tokenSlack is how much longer than the run's deadline a buyer's token is
// valid: setting up the items comes first, and a run may be slow to end.
const tokenSlack = time.Hour

// credential is the header field that says who a request is from; a zero one
// sends none.
type credential struct{ name, value string }

// credentials holds the header field each buyer's requests carry, made once
// before the run so that a request costs no more than setting one field.
type credentials struct {
	shared credential   // AuthStorefront: every buyer's
	buyers []credential // AuthToken: by buyer
	minted time.Duration
}

// of returns the credential of buyer.
func (cs *credentials) of(buyer int) credential {
	if cs.buyers != nil {
		return cs.buyers[buyer]
	}
	return cs.shared
}

// newCredentials makes the buyers' credentials of cfg: for AuthToken a token
// per buyer, minted on every processor at once, valid until well after the
// run's deadline.
func newCredentials(ctx context.Context, cfg Config) (*credentials, error) {
	switch cfg.auth() {
	case AuthStorefront:
		return &credentials{shared: credential{"X-API-Key", cfg.APIKey}}, nil
	case AuthToken:
	default:
		return &credentials{}, nil
	}
	ttl := cfg.Timeout + cfg.Duration + tokenSlack
	start := time.Now()
	cs := &credentials{buyers: make([]credential, cfg.Customers)}
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range min(runtime.GOMAXPROCS(0), cfg.Customers) {
		wg.Go(func() {
			for mctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= cfg.Customers {
					return
				}
				s, err := cfg.Tokens.Mint(customerID(i), ttl)
				if err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
				cs.buyers[i] = credential{"Authorization", "Bearer " + s}
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return nil, fmt.Errorf("mint the buyers' tokens: %w", firstErr)
	}
	cs.minted = time.Since(start)
	return cs, nil
}

// customerID is the id of buyer i, and the subject of its token.
func customerID(i int) string { return fmt.Sprintf("c-%d", i) }

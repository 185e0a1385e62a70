package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/orderq/orderq/loadtest/internal/crowd"
	"github.com/orderq/orderq/shared/cli"
	"github.com/orderq/orderq/shared/token"
)

// authFlags are the flags of the buyers' credentials, which every command
// that places orders has.
type authFlags struct {
	mode      string
	jwtSecret string
	apiKey    string
}

func (a *authFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.mode, "auth", "", "how the buyers authenticate: token (a customer token each, minted with --jwt-secret before the run; "+
		"the body names no customer), storefront (--api-key, the customer in the body) or none (a gateway with AUTH=off). "+
		"Default: token with a JWT secret, else storefront with a key, else none")
	fs.StringVar(&a.jwtSecret, "jwt-secret", "", "the gateway's `secret` for customer tokens (env CUSTOMER_JWT_SECRET); "+
		"iss and aud come from CUSTOMER_JWT_ISSUER and CUSTOMER_JWT_AUDIENCE, as for the gateway")
	fs.StringVar(&a.apiKey, "api-key", "", "a storefront's `key` (env STOREFRONT_API_KEY, else the first of STOREFRONT_API_KEYS)")
}

// apply sets c's credentials from the flags, once cli.Parse and applyEnv ran;
// help is the command line that explains them.
func (a *authFlags) apply(fs *flag.FlagSet, getenv func(string) string, c *crowd.Config, help string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["api-key"] && a.apiKey == "" {
		first, _, _ := strings.Cut(getenv("STOREFRONT_API_KEYS"), ",")
		a.apiKey = strings.TrimSpace(first)
	}
	mode := crowd.Auth(a.mode)
	switch {
	case a.mode != "":
		var err error
		if mode, err = crowd.ParseAuth(a.mode); err != nil {
			return cli.UsageError{Err: err, Help: help}
		}
	case a.jwtSecret != "":
		mode = crowd.AuthToken
	case a.apiKey != "":
		mode = crowd.AuthStorefront
	default:
		mode = crowd.AuthNone
	}
	switch {
	case mode == crowd.AuthToken && a.jwtSecret == "":
		return cli.UsageError{Err: fmt.Errorf("--auth token needs --jwt-secret or %s", token.EnvSecret), Help: help}
	case mode == crowd.AuthToken && len(a.jwtSecret) < token.MinSecretLen:
		return cli.UsageError{Err: fmt.Errorf("--jwt-secret (or %s) must be at least %d bytes", token.EnvSecret, token.MinSecretLen), Help: help}
	case mode == crowd.AuthStorefront && a.apiKey == "":
		return cli.UsageError{Err: errors.New("--auth storefront needs --api-key, STOREFRONT_API_KEY or STOREFRONT_API_KEYS"), Help: help}
	}
	c.Auth = mode
	if mode == crowd.AuthToken {
		c.Tokens = token.Config{Secret: []byte(a.jwtSecret), Issuer: getenv(token.EnvIssuer), Audience: getenv(token.EnvAudience)}
	}
	if mode == crowd.AuthStorefront {
		c.APIKey = a.apiKey
	}
	return nil
}

// authNote says how the buyers of c authenticate, for the line a run starts
// with.
func authNote(c crowd.Config) string {
	switch c.Auth {
	case crowd.AuthToken:
		return "buyers authenticate with a customer token each, minted before the run"
	case crowd.AuthStorefront:
		return "buyers order through a storefront's X-API-Key, naming the customer"
	default:
		return "buyers send no credential (--auth none, or no CUSTOMER_JWT_SECRET or storefront key set): " +
			"only a gateway with AUTH=off takes their orders"
	}
}

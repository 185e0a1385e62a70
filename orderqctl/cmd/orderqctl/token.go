package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/orderq/orderq/shared/cli"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/token"
)

// maxTTL bounds a token's life: a customer token is a session, and one that
// leaks should not be good for years.
const maxTTL = 366 * 24 * time.Hour

var tokenCommand = command{
	name:    "token",
	usage:   "token --sub ID [--ttl 24h]",
	summary: "print a customer token for ID",
	about: `Prints a customer token: a JWT signed with HS256 and the gateway's
CUSTOMER_JWT_SECRET, whose subject (sub) is the customer ID, with iss and aud
from CUSTOMER_JWT_ISSUER and CUSTOMER_JWT_AUDIENCE when they are set, as the
gateway checks them. Send it as "Authorization: Bearer <token>"; the gateway
then takes the customer from the token.

Environment: CUSTOMER_JWT_SECRET (required, at least 32 bytes),
CUSTOMER_JWT_ISSUER, CUSTOMER_JWT_AUDIENCE.
`,
	flags: func(fs *flag.FlagSet) func(context.Context, env, []string) error {
		sub := fs.String("sub", "", "the customer `id` the token is for (its sub claim; required)")
		ttl := fs.Duration("ttl", 24*time.Hour, fmt.Sprintf("how long the token is valid, at most %s", maxTTL))
		return func(_ context.Context, e env, args []string) error {
			if err := noArgs("token", args); err != nil {
				return err
			}
			return mintToken(e, *sub, *ttl)
		}
	},
}

func mintToken(e env, sub string, ttl time.Duration) error {
	const help = "orderqctl help token"
	if sub == "" {
		return cli.UsageError{Err: errors.New("--sub is required"), Help: help}
	}
	if err := message.ValidCustomerID(sub); err != nil {
		return cli.UsageError{Err: fmt.Errorf("--sub: %w", err), Help: help}
	}
	if ttl <= 0 || ttl > maxTTL {
		return cli.UsageError{Err: fmt.Errorf("--ttl %s: want a duration above 0 and at most %s", ttl, maxTTL), Help: help}
	}
	cfg, err := token.FromEnv(e.getenv)
	if err != nil {
		return err
	}
	if len(cfg.Secret) == 0 {
		return fmt.Errorf("%s is not set: it is the gateway's secret for customer tokens", token.EnvSecret)
	}
	s, err := cfg.Mint(sub, ttl)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(e.stdout, s)
	return err
}

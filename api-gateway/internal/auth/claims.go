package auth

import (
	"errors"
	"math"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/orderq/orderq/shared/message"
)

// claims are the registered claims of a customer token, read with sonic: every
// order carries a token, and encoding/json's reading of the claims (its
// NumericDate above all) took a tenth of the gateway's CPU at 10,000 orders/s.
// golang-jwt validates them through the jwt.Claims methods as it does its own.
type claims struct {
	subject, issuer              string
	audience                     jwt.ClaimStrings
	expiresAt, notBefore, issued *jwt.NumericDate
}

// rawClaims is the JSON of claims. An audience is a string or an array of
// strings (RFC 7519, section 4.1.3); a time is a NumericDate, seconds since
// the epoch, maybe with a fraction.
type rawClaims struct {
	Sub *string  `json:"sub"`
	Iss *string  `json:"iss"`
	Aud any      `json:"aud"`
	Exp *float64 `json:"exp"`
	Nbf *float64 `json:"nbf"`
	Iat *float64 `json:"iat"`
}

var errClaimType = errors.New("a registered claim has the wrong type")

// UnmarshalJSON reads the claims, refusing a registered claim of the wrong type.
func (c *claims) UnmarshalJSON(b []byte) error {
	var raw rawClaims
	if err := message.JSON.Unmarshal(b, &raw); err != nil {
		return errClaimType
	}
	if raw.Sub != nil {
		c.subject = *raw.Sub
	}
	if raw.Iss != nil {
		c.issuer = *raw.Iss
	}
	switch aud := raw.Aud.(type) {
	case nil:
	case string:
		c.audience = jwt.ClaimStrings{aud}
	case []any:
		for _, a := range aud {
			s, ok := a.(string)
			if !ok {
				return errClaimType
			}
			c.audience = append(c.audience, s)
		}
	default:
		return errClaimType
	}
	c.expiresAt, c.notBefore, c.issued = numericDate(raw.Exp), numericDate(raw.Nbf), numericDate(raw.Iat)
	return nil
}

func numericDate(f *float64) *jwt.NumericDate {
	if f == nil {
		return nil
	}
	sec, frac := math.Modf(*f)
	return jwt.NewNumericDate(time.Unix(int64(sec), int64(frac*1e9)))
}

func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) { return c.expiresAt, nil }
func (c *claims) GetNotBefore() (*jwt.NumericDate, error)      { return c.notBefore, nil }
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.issued, nil }
func (c *claims) GetIssuer() (string, error)                   { return c.issuer, nil }
func (c *claims) GetSubject() (string, error)                  { return c.subject, nil }
func (c *claims) GetAudience() (jwt.ClaimStrings, error)       { return c.audience, nil }

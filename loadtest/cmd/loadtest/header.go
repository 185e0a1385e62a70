package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/orderq/orderq/loadtest/internal/report"
	"github.com/orderq/orderq/shared/token"
)

// masks says how a report shows the value of a flag that holds a secret:
// tokens and keys not at all, a DSN or a URL without its password.
var masks = map[string]func(string) string{
	"admin-token": hidden, "jwt-secret": hidden, "api-key": hidden,
	"mysql-dsn": dsnWithoutPassword, "url": urlWithoutPassword, "redis-url": urlWithoutPassword,
}

// masked is what a report shows of a secret.
const masked = "***"

// hidden shows that a secret was set, not what it is; an empty one is left
// empty, which says it was not set.
func hidden(v string) string {
	if v == "" {
		return ""
	}
	return masked
}

// dsnWithoutPassword is v, a DSN, as given but for its password; a DSN the
// driver cannot read is hidden whole, since its password cannot be told
// apart.
func dsnWithoutPassword(v string) string {
	c, err := mysql.ParseDSN(v)
	if err != nil {
		return hidden(v)
	}
	if c.Passwd == "" {
		return v
	}
	// The driver reads user:password@ up to the last @ before the last /.
	creds := c.User + ":" + c.Passwd + "@"
	if !strings.HasPrefix(v, creds) {
		return hidden(v)
	}
	return c.User + ":" + masked + "@" + v[len(creds):]
}

func urlWithoutPassword(v string) string {
	u, err := url.Parse(v)
	if err != nil {
		return hidden(v)
	}
	return u.Redacted()
}

// mask shows v, the value of the flag name, as a report may.
func mask(name, v string) string {
	if m := masks[name]; m != nil {
		return m(v)
	}
	return v
}

// newHeader starts the header of a report of command (e.g. "loadtest
// flashsale"), whose flags fs parsed from args, and applyEnv then set as
// applied says; getenv is what the credentials read.
func newHeader(command string, fs *flag.FlagSet, args []string, applied map[string]string, getenv func(string) string) *report.Header {
	flags := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { flags[f.Name] = mask(f.Name, f.Value.String()) })
	env := map[string]string{}
	for key, name := range applied {
		env[key] = flags[name]
	}
	// The variables the buyers' credentials read besides (authFlags.apply),
	// each masked as the flag whose kind of secret it holds.
	for key, name := range map[string]string{"STOREFRONT_API_KEYS": "api-key", token.EnvIssuer: "", token.EnvAudience: ""} {
		if v := getenv(key); v != "" {
			env[key] = mask(name, v)
		}
	}
	return &report.Header{
		Command:     command,
		Args:        maskArgs(fs, args),
		Flags:       flags,
		Environment: env,
		Started:     report.UTC(time.Now()),
		Build:       report.BinaryOf(debug.ReadBuildInfo()),
		Host:        report.ThisHost(),
	}
}

// maskArgs returns args with the values of secret flags masked, reading
// them as fs.Parse does: -name=value or --name=value, or -name value for a
// flag that is not boolean, up to "--" or the first argument that is no
// flag.
func maskArgs(fs *flag.FlagSet, args []string) []string {
	out := slices.Clone(args)
	for i := 0; i < len(out); i++ {
		a := out[i]
		if a == "--" || len(a) < 2 || a[0] != '-' {
			break
		}
		name, value, inline := strings.Cut(strings.TrimPrefix(a[1:], "-"), "=")
		f := fs.Lookup(name)
		switch {
		case f == nil:
		case inline:
			out[i] = a[:len(a)-len(value)] + mask(name, value)
		case !isBool(f) && i+1 < len(out):
			i++
			out[i] = mask(name, out[i])
		}
	}
	return out
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// describeTarget says what the gateway at base tells of itself: the
// version of the contract its /openapi.json documents. A gateway that does
// not tell is noted, not an error: the run finds out whether it works.
func describeTarget(ctx context.Context, base string) report.Target {
	t := report.Target{URL: urlWithoutPassword(base)}
	v, err := apiVersion(ctx, base)
	if err != nil {
		t.Note = "API version unknown: " + err.Error()
		return t
	}
	t.APIVersion = v
	return t
}

// maxOpenAPI bounds what is read of /openapi.json.
const maxOpenAPI = 4 << 20

func apiVersion(ctx context.Context, base string) (string, error) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, strings.TrimRight(base, "/")+"/openapi.json", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("/openapi.json answered %s", resp.Status)
	}
	var doc struct {
		Info struct {
			Version string `json:"version"`
		} `json:"info"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxOpenAPI)).Decode(&doc); err != nil {
		return "", fmt.Errorf("/openapi.json: %w", err)
	}
	if doc.Info.Version == "" {
		return "", errors.New("/openapi.json has no info.version")
	}
	return doc.Info.Version, nil
}

// Package config reads the settings every orderq binary shares from the
// environment. Each binary has its own Config that embeds Common; all of them are
// read once, at start-up, through a getenv function so tests can feed a map.
package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/orderq/orderq/shared/mq"
	"github.com/orderq/orderq/shared/shard"
)

// Defaults, as the README's Configuration lists them.
const (
	DefaultAMQPURL  = "amqp://guest:guest@127.0.0.1:5672/"
	DefaultMySQLDSN = "root:@tcp(127.0.0.1:3306)/orderq?parseTime=true&charset=utf8mb4"
)

// DefaultShardQueueMaxLength bounds each shard queue, in messages, when
// SHARD_QUEUE_MAX_LENGTH is unset. A running worker keeps its queue near
// empty, so only a shard whose worker is down or far behind meets the bound.
// The gateway coalesces a crowd's orders into messages of up to 500, so a
// crowd fills a queue by messages far more slowly than by orders: this many
// absorb a worker outage of minutes during a sale (README, Performance), and
// stop a queue nobody consumes long before it would fill the broker's disk
// and raise the alarm that blocks every connection, the worker's results and
// outbox included.
const DefaultShardQueueMaxLength = 100_000

// Common is what both the gateway and the worker need.
type Common struct {
	AMQPURL  string
	MySQLDSN string
	Shards   int
	// ShardQueueMaxLength is SHARD_QUEUE_MAX_LENGTH: the most messages a
	// shard queue holds; the broker refuses (nacks) publishes past it. Both
	// programs declare the queues, so both read it.
	ShardQueueMaxLength int
	// QuorumSize is QUORUM_SIZE: how many nodes hold each quorum queue.
	QuorumSize int
	Tracing    Tracing
	// Instance is INSTANCE: this process's name among its program's, in its
	// broker connections' names, consumer tags and queue names (a gateway's
	// results queue is orderq.results.<instance>) and in its build-info
	// metric, so that the broker's dashboard and the metrics say who is who.
	Instance string
}

// DefaultQuorumSize replicates each queue on three nodes: it survives the
// loss of one, and a cluster of fewer nodes holds it on all of them.
const DefaultQuorumSize = 3

// Topology is the broker topology both programs declare.
func (c Common) Topology() mq.Topology {
	return mq.Topology{Shards: c.Shards, MaxLength: c.ShardQueueMaxLength, QuorumSize: c.QuorumSize}
}

// instancePattern is what an instance name may be: it goes into queue names,
// consumer tags and label values as it is.
var instancePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// DefaultInstance is the instance name when INSTANCE is unset: the host's
// name and the process id, which two processes running at once never share
// (a gateway's results queue must be its own).
func DefaultInstance() string {
	host, err := os.Hostname()
	if len(host) > 50 {
		host = host[:50]
	}
	if err != nil || !instancePattern.MatchString(host) {
		host = "orderq"
	}
	return host + "-" + strconv.Itoa(os.Getpid())
}

// LoadCommon reads AMQP_URL, MYSQL_DSN, SHARDS, SHARD_QUEUE_MAX_LENGTH,
// QUORUM_SIZE, INSTANCE and the tracing variables (LoadTracing).
func LoadCommon(getenv func(string) string) (Common, error) {
	c := Common{
		AMQPURL:  String(getenv, "AMQP_URL", DefaultAMQPURL),
		MySQLDSN: String(getenv, "MYSQL_DSN", DefaultMySQLDSN),
		Instance: getenv("INSTANCE"),
	}
	if c.Instance == "" {
		c.Instance = DefaultInstance()
	} else if !instancePattern.MatchString(c.Instance) {
		return c, fmt.Errorf("INSTANCE=%q: want 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", c.Instance)
	}
	var err error
	if c.Shards, err = Int(getenv, "SHARDS", shard.Default, 1, shard.Max); err != nil {
		return c, err
	}
	if c.ShardQueueMaxLength, err = Int(getenv, "SHARD_QUEUE_MAX_LENGTH", DefaultShardQueueMaxLength, 1, 100_000_000); err != nil {
		return c, err
	}
	if c.QuorumSize, err = Int(getenv, "QUORUM_SIZE", DefaultQuorumSize, 1, 9); err != nil {
		return c, err
	}
	if err := checkAMQPURL(c.AMQPURL); err != nil {
		return c, err
	}
	dsn, err := mysql.ParseDSN(c.MySQLDSN)
	if err != nil {
		return c, fmt.Errorf("MYSQL_DSN: %w", err)
	}
	if dsn.DBName == "" {
		return c, fmt.Errorf("MYSQL_DSN names no database")
	}
	if !dsn.ParseTime {
		return c, fmt.Errorf("MYSQL_DSN needs parseTime=true")
	}
	c.Tracing, err = LoadTracing(getenv)
	return c, err
}

// The garbage collector's settings in both binaries when the environment sets
// no GOGC or GOMEMLIMIT of its own. With Go's defaults (GOGC=100, no limit) the
// collector took a tenth to a fifth of the gateway's and the worker's CPU at
// load, for live heaps of a few tens of MB: letting the heap grow 5× before a
// collection trades memory that is there for CPU that is not. The soft limit
// is above the 5× of the gateway's live heap under a crowd: at a limit of
// 100 MiB the limit, not GOGC, set the pace of its collections.
const (
	DefaultGOGC        = 400
	DefaultMemoryLimit = 256 << 20 // bytes
)

// TuneGC applies DefaultGOGC and DefaultMemoryLimit, each unless its variable
// is set.
func TuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(DefaultGOGC)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(DefaultMemoryLimit)
	}
}

// LogValue masks the secrets when the config is logged.
func (c Common) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("amqp_url", RedactURL(c.AMQPURL)),
		slog.String("mysql_dsn", RedactDSN(c.MySQLDSN)),
		slog.Int("shards", c.Shards),
		slog.Int("shard_queue_max_length", c.ShardQueueMaxLength),
		slog.Int("quorum_size", c.QuorumSize),
		slog.String("instance", c.Instance),
		slog.Any("tracing", c.Tracing))
}

// String returns the variable, or def when it is unset or empty.
func String(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// Int returns the variable as an int in [lo, hi], or def when unset.
func Int(getenv func(string) string, key string, def, lo, hi int) (int, error) {
	v := getenv(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s=%q: want a whole number from %d to %d", key, v, lo, hi)
	}
	return n, nil
}

// Duration returns the variable as a Go duration ("15m", "500ms") in [lo, hi],
// or def when unset.
func Duration(getenv func(string) string, key string, def, lo, hi time.Duration) (time.Duration, error) {
	v := getenv(key)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		return 0, fmt.Errorf("%s=%q: want a duration from %s to %s", key, v, lo, hi)
	}
	return d, nil
}

// checkAMQPURL checks AMQP_URL: one URL, or the comma-separated URLs of
// the nodes of one cluster, all of the same vhost (a program on another
// vhost would be in another deployment).
func checkAMQPURL(s string) error {
	vhost := ""
	for i, node := range mq.Nodes(s) {
		u, err := url.Parse(node)
		if err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") || u.Host == "" {
			return fmt.Errorf("AMQP_URL %q: want amqp://user:pass@host:port/vhost, or several such URLs separated by commas", RedactURL(s))
		}
		if v := strings.TrimPrefix(u.Path, "/"); i == 0 {
			vhost = v
		} else if v != vhost {
			return fmt.Errorf("AMQP_URL %q: its URLs name the vhosts %q and %q; the nodes of one cluster share one", RedactURL(s), vhost, v)
		}
	}
	return nil
}

// RedactURL hides the password of a URL, or of each of comma-separated URLs.
func RedactURL(s string) string {
	var out []string
	for _, node := range mq.Nodes(s) {
		u, err := url.Parse(node)
		if err != nil {
			return "(unparsable)"
		}
		out = append(out, u.Redacted())
	}
	return strings.Join(out, ",")
}

// RedactDSN hides the password of a MySQL DSN.
func RedactDSN(s string) string {
	cfg, err := mysql.ParseDSN(s)
	if err != nil {
		return "(unparsable)"
	}
	if cfg.Passwd != "" {
		cfg.Passwd = "xxxxx"
	}
	return cfg.FormatDSN()
}

package config

import (
	"reflect"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadCommon(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		want    Common
	}{
		{name: "defaults", env: nil, want: Common{AMQPURL: DefaultAMQPURL, MySQLDSN: DefaultMySQLDSN, Shards: 4, ShardQueueMaxLength: 100_000, QuorumSize: 3}},
		{name: "shards set", env: map[string]string{"SHARDS": "8"}, want: Common{AMQPURL: DefaultAMQPURL, MySQLDSN: DefaultMySQLDSN, Shards: 8, ShardQueueMaxLength: 100_000, QuorumSize: 3}},
		{name: "shard queue bound set", env: map[string]string{"SHARD_QUEUE_MAX_LENGTH": "500"}, want: Common{AMQPURL: DefaultAMQPURL, MySQLDSN: DefaultMySQLDSN, Shards: 4, ShardQueueMaxLength: 500, QuorumSize: 3}},
		{name: "shard queue bound zero", env: map[string]string{"SHARD_QUEUE_MAX_LENGTH": "0"}, wantErr: "SHARD_QUEUE_MAX_LENGTH"},
		{name: "shard queue bound not a number", env: map[string]string{"SHARD_QUEUE_MAX_LENGTH": "1e5"}, wantErr: "SHARD_QUEUE_MAX_LENGTH"},
		{name: "shard queue bound too large", env: map[string]string{"SHARD_QUEUE_MAX_LENGTH": "100000001"}, wantErr: "SHARD_QUEUE_MAX_LENGTH"},
		{name: "amqps accepted", env: map[string]string{"AMQP_URL": "amqps://u:p@broker:5671/"}, want: Common{AMQPURL: "amqps://u:p@broker:5671/", MySQLDSN: DefaultMySQLDSN, Shards: 4, ShardQueueMaxLength: 100_000, QuorumSize: 3}},
		{name: "dsn with tls accepted", env: map[string]string{"MYSQL_DSN": "u:p@tcp(db:3306)/orderq?parseTime=true&tls=true"}, want: Common{AMQPURL: DefaultAMQPURL, MySQLDSN: "u:p@tcp(db:3306)/orderq?parseTime=true&tls=true", Shards: 4, ShardQueueMaxLength: 100_000, QuorumSize: 3}},
		{name: "shards zero", env: map[string]string{"SHARDS": "0"}, wantErr: "SHARDS"},
		{name: "shards not a number", env: map[string]string{"SHARDS": "four"}, wantErr: "SHARDS"},
		{name: "shards too many", env: map[string]string{"SHARDS": "257"}, wantErr: "SHARDS"},
		{name: "amqp scheme", env: map[string]string{"AMQP_URL": "http://x"}, wantErr: "AMQP_URL"},
		{name: "a cluster's nodes", env: map[string]string{"AMQP_URL": "amqp://u:p@a:5672/shop, amqp://u:p@b:5672/shop,amqp://u:p@c:5672/shop"},
			want: Common{AMQPURL: "amqp://u:p@a:5672/shop, amqp://u:p@b:5672/shop,amqp://u:p@c:5672/shop", MySQLDSN: DefaultMySQLDSN, Shards: 4, ShardQueueMaxLength: 100_000, QuorumSize: 3}},
		{name: "nodes of two vhosts", env: map[string]string{"AMQP_URL": "amqp://u:p@a:5672/shop,amqp://u:p@b:5672/"}, wantErr: "vhosts"},
		{name: "a node of another scheme", env: map[string]string{"AMQP_URL": "amqp://u:p@a:5672/,http://b"}, wantErr: "AMQP_URL"},
		{name: "a node without a host", env: map[string]string{"AMQP_URL": "amqp://u:p@a:5672/,amqp:///"}, wantErr: "AMQP_URL"},
		{name: "dsn without database", env: map[string]string{"MYSQL_DSN": "root:@tcp(127.0.0.1:3306)/?parseTime=true"}, wantErr: "names no database"},
		{name: "dsn without parseTime", env: map[string]string{"MYSQL_DSN": "root:@tcp(127.0.0.1:3306)/orderq"}, wantErr: "parseTime"},
		{name: "dsn garbage", env: map[string]string{"MYSQL_DSN": "::::"}, wantErr: "MYSQL_DSN"},
		{name: "instance set", env: map[string]string{"INSTANCE": "gw-eu.1_a"}, want: Common{AMQPURL: DefaultAMQPURL, MySQLDSN: DefaultMySQLDSN, Shards: 4, ShardQueueMaxLength: 100_000, QuorumSize: 3, Instance: "gw-eu.1_a"}},
		{name: "instance with a space", env: map[string]string{"INSTANCE": "gw 1"}, wantErr: "INSTANCE"},
		{name: "instance starting with a dot", env: map[string]string{"INSTANCE": ".gw"}, wantErr: "INSTANCE"},
		{name: "instance too long", env: map[string]string{"INSTANCE": strings.Repeat("a", 65)}, wantErr: "INSTANCE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadCommon(env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			// None of these cases sets a tracing variable (TestLoadTracing).
			tt.want.Tracing = Tracing{Sampler: DefaultSampler, SamplerArg: 1}
			if tt.want.Instance == "" {
				tt.want.Instance = DefaultInstance()
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	if got := RedactURL("amqp://user:secret@host:5672/"); strings.Contains(got, "secret") {
		t.Errorf("RedactURL leaked the password: %s", got)
	}
	if got := RedactURL("amqp://user:secret@a:5672/,amqp://user:other@b:5672/"); strings.Contains(got, "secret") ||
		strings.Contains(got, "other") || !strings.Contains(got, "@a:5672/,") || !strings.Contains(got, "@b:5672/") {
		t.Errorf("RedactURL of two nodes: %s, want both without their passwords", got)
	}
	if got := RedactDSN("user:secret@tcp(db:3306)/orderq?parseTime=true"); strings.Contains(got, "secret") {
		t.Errorf("RedactDSN leaked the password: %s", got)
	}
}

package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Tracing is where the programs export their OpenTelemetry traces and which
// they keep, read from the variables OpenTelemetry's specification names, with
// its defaults. Without an endpoint tracing is off: no span is made and no
// trace context travels with a message.
type Tracing struct {
	// Endpoint is OTEL_EXPORTER_OTLP_ENDPOINT, the base URL of an OTLP/HTTP
	// receiver (a collector): spans go to its /v1/traces. Empty: off.
	Endpoint string
	// ServiceName is OTEL_SERVICE_NAME; empty: the program's name.
	ServiceName string
	// Resource is OTEL_RESOURCE_ATTRIBUTES, in its order.
	Resource []Attribute
	// Sampler is OTEL_TRACES_SAMPLER, one of Samplers; SamplerArg is
	// OTEL_TRACES_SAMPLER_ARG, the ratio of traces the traceidratio samplers
	// keep.
	Sampler    string
	SamplerArg float64
}

// Attribute is one key=value of OTEL_RESOURCE_ATTRIBUTES.
type Attribute struct{ Key, Value string }

// Samplers are the values of OTEL_TRACES_SAMPLER the programs take: the
// specification's, less those of other projects (jaeger_remote, xray).
var Samplers = []string{
	"always_on", "always_off", "traceidratio",
	"parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio",
}

// DefaultSampler is the specification's: keep every trace a request starts,
// and follow the caller's decision for one it continues.
const DefaultSampler = "parentbased_always_on"

// LoadTracing reads OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL,
// OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER and
// OTEL_TRACES_SAMPLER_ARG. Where the specification's SDK would log a bad
// value and go on with its default, a bad value here stops the program.
func LoadTracing(getenv func(string) string) (Tracing, error) {
	t := Tracing{
		Endpoint:    strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT")),
		ServiceName: strings.TrimSpace(getenv("OTEL_SERVICE_NAME")),
		Sampler:     strings.ToLower(strings.TrimSpace(String(getenv, "OTEL_TRACES_SAMPLER", DefaultSampler))),
		SamplerArg:  1,
	}
	if t.Endpoint != "" {
		u, err := url.Parse(t.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return t, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT %q: want the base URL of an OTLP/HTTP receiver, e.g. http://collector:4318",
				RedactURL(t.Endpoint))
		}
	}
	switch p := getenv("OTEL_EXPORTER_OTLP_PROTOCOL"); p {
	case "", "http/protobuf":
	default:
		return t, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: only http/protobuf is supported", p)
	}
	var err error
	if t.Resource, err = parseResource(getenv("OTEL_RESOURCE_ATTRIBUTES")); err != nil {
		return t, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	if !slices.Contains(Samplers, t.Sampler) {
		return t, fmt.Errorf("OTEL_TRACES_SAMPLER=%q: want one of %s", t.Sampler, strings.Join(Samplers, ", "))
	}
	if v := strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER_ARG")); v != "" && strings.HasSuffix(t.Sampler, "traceidratio") {
		if t.SamplerArg, err = strconv.ParseFloat(v, 64); err != nil || t.SamplerArg < 0 || t.SamplerArg > 1 {
			return t, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG=%q: want the ratio of traces to keep, from 0 to 1", v)
		}
	}
	return t, nil
}

// parseResource reads key=value pairs separated by commas, values
// percent-encoded, as the specification writes them.
func parseResource(s string) ([]Attribute, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var attrs []Attribute
	for pair := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", pair)
		}
		val, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("the value of %s: %v", k, err)
		}
		attrs = append(attrs, Attribute{Key: k, Value: val})
	}
	return attrs, nil
}

// LogValue shows the endpoint without credentials.
func (t Tracing) LogValue() slog.Value {
	if t.Endpoint == "" {
		return slog.StringValue("off")
	}
	return slog.GroupValue(
		slog.String("endpoint", RedactURL(t.Endpoint)),
		slog.String("service_name", t.ServiceName),
		slog.String("sampler", t.Sampler),
		slog.Float64("sampler_arg", t.SamplerArg))
}

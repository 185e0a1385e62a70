package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestLoadTracing(t *testing.T) {
	off := Tracing{Sampler: DefaultSampler, SamplerArg: 1}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		want    Tracing
	}{
		{name: "off by default", env: nil, want: off},
		{name: "a sampler without an endpoint is still off", env: map[string]string{"OTEL_TRACES_SAMPLER": "always_on"},
			want: Tracing{Sampler: "always_on", SamplerArg: 1}},
		{name: "endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
			want: Tracing{Endpoint: "http://collector:4318", Sampler: DefaultSampler, SamplerArg: 1}},
		{name: "one percent of new traces", env: map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318/otlp", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
			"OTEL_TRACES_SAMPLER_ARG": "0.01", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		}, want: Tracing{Endpoint: "https://collector:4318/otlp", Sampler: "parentbased_traceidratio", SamplerArg: 0.01}},
		{name: "sampler names ignore case", env: map[string]string{"OTEL_TRACES_SAMPLER": " TraceIdRatio ", "OTEL_TRACES_SAMPLER_ARG": "0.5"},
			want: Tracing{Sampler: "traceidratio", SamplerArg: 0.5}},
		{name: "an argument for a sampler that takes none is ignored", env: map[string]string{"OTEL_TRACES_SAMPLER": "always_off", "OTEL_TRACES_SAMPLER_ARG": "x"},
			want: Tracing{Sampler: "always_off", SamplerArg: 1}},
		{name: "service and resource", env: map[string]string{
			"OTEL_SERVICE_NAME": "gw-eu", "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=prod, service.instance.id=gw%201",
		}, want: Tracing{ServiceName: "gw-eu", Sampler: DefaultSampler, SamplerArg: 1,
			Resource: []Attribute{{"deployment.environment.name", "prod"}, {"service.instance.id", "gw 1"}}}},
		{name: "endpoint not a URL", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, wantErr: "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{name: "endpoint without host", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http:///v1"}, wantErr: "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{name: "grpc", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, wantErr: "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{name: "unknown sampler", env: map[string]string{"OTEL_TRACES_SAMPLER": "jaeger_remote"}, wantErr: "OTEL_TRACES_SAMPLER"},
		{name: "ratio above 1", env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"}, wantErr: "OTEL_TRACES_SAMPLER_ARG"},
		{name: "ratio not a number", env: map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1%"}, wantErr: "OTEL_TRACES_SAMPLER_ARG"},
		{name: "resource pair without value", env: map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "a=1,b"}, wantErr: "OTEL_RESOURCE_ATTRIBUTES"},
		{name: "resource value badly encoded", env: map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "a=%zz"}, wantErr: "OTEL_RESOURCE_ATTRIBUTES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadTracing(env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestTracingLogValueHidesCredentials(t *testing.T) {
	tr, err := LoadTracing(env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://user:secret@collector:4318"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.LogValue().String(); strings.Contains(got, "secret") || !strings.Contains(got, "collector:4318") {
		t.Errorf("logged as %s: want the endpoint without its password", got)
	}
}

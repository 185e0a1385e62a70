package ops

import (
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// BuildInfo is orderq_build_info: always 1, with labels that say which
// program this is, which instance (INSTANCE), and what it was built from.
// Its labels join onto any other metric of the same scrape (on job and
// instance), which is how a dashboard names the instance behind a series.
func BuildInfo(program, instance string) prometheus.Collector {
	version, revision, goVersion := "unknown", "unknown", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		if v := bi.Main.Version; v != "" {
			version = v
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "orderq_build_info",
		Help: "Always 1: the program, its instance name (INSTANCE), and the version, VCS revision and Go version it was built from.",
		ConstLabels: prometheus.Labels{
			"program": program, "instance_name": instance,
			"version": version, "revision": revision, "goversion": goVersion,
		},
	})
	g.Set(1)
	return g
}

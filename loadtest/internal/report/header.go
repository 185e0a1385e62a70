package report

import (
	"os"
	"runtime"
	"runtime/debug"
	"time"
)

// Header says when a report's run happened, against what, by which build of
// the load tester on which host, and with which command line: what a
// post-mortem needs to trust the figures below it, or to run them again.
type Header struct {
	Command string `json:"command"` // e.g. "loadtest flashsale"
	// Args is the command line after Command, as given, with secrets masked.
	Args []string `json:"args"`
	// Flags is every flag's value in effect, from the command line, the
	// environment or its default, with secrets masked.
	Flags map[string]string `json:"flags"`
	// Environment is the variables the command read that were set, with
	// secrets masked.
	Environment map[string]string `json:"environment"`
	Started     time.Time         `json:"started"`  // the command started, UTC
	Finished    time.Time         `json:"finished"` // the report was written, UTC
	Target      Target            `json:"target"`
	Build       Binary            `json:"build"` // the load tester's
	Host        Host              `json:"host"`  // the load tester's
}

// Target is the gateway the crowd met, and what it says of itself.
type Target struct {
	URL string `json:"url"` // empty when no gateway was driven (compare without orderq)
	// APIVersion is the info.version of the gateway's /openapi.json: the
	// contract it serves. The gateway reports no build of its own.
	APIVersion string `json:"api_version,omitempty"`
	Note       string `json:"note,omitempty"` // why APIVersion is missing
}

// Binary is a binary's build, as the Go toolchain recorded it in it.
type Binary struct {
	Path      string `json:"path"`    // the main package
	Version   string `json:"version"` // the main module's: "(devel)" when built from a checkout
	GoVersion string `json:"go_version"`
	// The commit a build in a git checkout was made from, its time, and
	// whether the tree had changes not committed.
	Revision string `json:"vcs_revision,omitempty"`
	Time     string `json:"vcs_time,omitempty"`
	Modified *bool  `json:"vcs_modified,omitempty"`
	Note     string `json:"note,omitempty"` // why Revision is missing
}

// Host is the machine the load tester ran on.
type Host struct {
	Name       string `json:"hostname"`
	OS         string `json:"goos"`
	Arch       string `json:"goarch"`
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
}

// BinaryOf describes the build bi records, as debug.ReadBuildInfo returns it.
func BinaryOf(bi *debug.BuildInfo, ok bool) Binary {
	if !ok || bi == nil {
		return Binary{GoVersion: runtime.Version(), Note: "the binary carries no build information"}
	}
	b := Binary{Path: bi.Path, Version: bi.Main.Version, GoVersion: bi.GoVersion}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			modified := s.Value == "true"
			b.Modified = &modified
		}
	}
	if b.Revision == "" {
		b.Note = "no commit recorded: built outside a git checkout, or with -buildvcs=false"
	}
	return b
}

// ThisHost describes the machine this process runs on.
func ThisHost() Host {
	name, _ := os.Hostname() // "" when the system will not say
	return Host{Name: name, OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0)}
}

// UTC is t as a report holds a moment: in UTC, to the millisecond, without
// the monotonic clock's reading, so that it reads back from JSON as it was.
func UTC(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

package report

import (
	"reflect"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestBinaryOf(t *testing.T) {
	yes, no := true, false
	main := debug.Module{Path: "github.com/orderq/orderq/loadtest", Version: "(devel)"}
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want Binary
	}{
		{
			name: "a build in a git checkout with changes",
			bi: &debug.BuildInfo{GoVersion: "go1.26.8", Path: "github.com/orderq/orderq/loadtest/cmd/loadtest", Main: main,
				Settings: []debug.BuildSetting{{Key: "-buildmode", Value: "exe"}, {Key: "vcs", Value: "git"},
					{Key: "vcs.revision", Value: "05be915785abf99e63b608c2888daf5e5dc7ded9"},
					{Key: "vcs.time", Value: "2026-12-01T17:14:53Z"}, {Key: "vcs.modified", Value: "true"}}},
			ok: true,
			want: Binary{Path: "github.com/orderq/orderq/loadtest/cmd/loadtest", Version: "(devel)", GoVersion: "go1.26.8",
				Revision: "05be915785abf99e63b608c2888daf5e5dc7ded9", Time: "2026-12-01T17:14:53Z", Modified: &yes},
		},
		{
			name: "a clean one",
			bi: &debug.BuildInfo{GoVersion: "go1.26.8", Path: "p", Main: main,
				Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "false"}}},
			ok:   true,
			want: Binary{Path: "p", Version: "(devel)", GoVersion: "go1.26.8", Revision: "abc", Modified: &no},
		},
		{
			name: "no version control",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Path: "p", Main: debug.Module{Path: "m", Version: "v1.2.3"}},
			ok:   true,
			want: Binary{Path: "p", Version: "v1.2.3", GoVersion: "go1.26.8",
				Note: "no commit recorded: built outside a git checkout, or with -buildvcs=false"},
		},
		{
			name: "no build information",
			want: Binary{GoVersion: runtime.Version(), Note: "the binary carries no build information"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := BinaryOf(tt.bi, tt.ok); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("BinaryOf =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestThisHost(t *testing.T) {
	h := ThisHost()
	if h.OS != runtime.GOOS || h.Arch != runtime.GOARCH || h.CPUs != runtime.NumCPU() || h.CPUs < 1 || h.GOMAXPROCS != runtime.GOMAXPROCS(0) {
		t.Errorf("ThisHost = %+v", h)
	}
}

func TestUTC(t *testing.T) {
	jakarta := time.FixedZone("WIB", 7*3600)
	in := time.Date(2024, 12, 12, 7, 0, 0, 123456789, jakarta)
	got := UTC(in)
	if want := time.Date(2024, 12, 12, 0, 0, 0, 123000000, time.UTC); !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("UTC(%v) = %v, want %v", in, got, want)
	}
}

// Package buildinfo holds what the build stamps into every binary (set with
// -ldflags "-X github.com/kloros/kloros-observer/supervision/buildinfo.Version=..." by the
// Makefile) and prints it the way Prometheus' tools do for --version.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set at build time; empty means unknown.
var (
	Version   = ""
	Revision  = ""
	Branch    = ""
	BuildUser = ""
	BuildDate = ""
)

// Short returns the version: the ldflags value, else the module version,
// else "devel".
func Short() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Print returns the --version text for program, as Prometheus prints it:
//
//	intentctl, version v1.2.0 (branch: main, revision: 0123abcd...)
//	  build user:       root@host
//	  build date:       20261130-02:53:31
//	  go version:       go1.26.8
//	  platform:         linux/amd64
func Print(program string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s, version %s (branch: %s, revision: %s)\n", program, Short(), or(Branch, "unknown"), or(Revision, "unknown"))
	fmt.Fprintf(&sb, "  build user:       %s\n", or(BuildUser, "unknown"))
	fmt.Fprintf(&sb, "  build date:       %s\n", or(BuildDate, "unknown"))
	fmt.Fprintf(&sb, "  go version:       %s\n", runtime.Version())
	fmt.Fprintf(&sb, "  platform:         %s/%s\n", runtime.GOOS, runtime.GOARCH)
	return sb.String()
}

//go:build !chaos

package supervision

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The failure-on-demand hook is not reachable in a normal build: no
// middleware on any actor, no /chaos/fail endpoint (see chaos_on.go).
func TestNoChaosHookInNormalBuild(t *testing.T) {
	require.False(t, ChaosEnabled)
	require.Empty(t, chaosOptions())
	require.Empty(t, chaosHandlers(nil))
}

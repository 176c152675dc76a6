package supervision

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBackoffDoublesWithJitterAndCaps(t *testing.T) {
	p := &RestartPolicy{BackoffInitial: 100 * time.Millisecond, BackoffMax: 2 * time.Second}
	for n, base := range map[int]time.Duration{
		1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond,
		5: 1600 * time.Millisecond, 6: 2 * time.Second, 50: 2 * time.Second,
	} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := p.Backoff(n)
			require.GreaterOrEqual(t, d, base/2, "restart %d", n)
			require.LessOrEqual(t, d, base+base/2, "restart %d", n)
			seen[d] = true
		}
		require.Greater(t, len(seen), 10, "restart %d: delays must be jittered", n)
	}
}

func TestKindOfBoundsLabels(t *testing.T) {
	require.Equal(t, "emitter", KindOf("emitter"))
	require.Equal(t, "gpu_oom", KindOf("rules/gpu_oom"))
	require.Equal(t, "watcher", KindOf("zooids/watcher:zooid_42"))
	require.Equal(t, "scrape", KindOf("sources/scrape:1"))
}

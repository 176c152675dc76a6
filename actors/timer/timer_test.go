package timer

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"
)

func TestEveryAndCancel(t *testing.T) {
	s := actor.NewActorSystem()
	var n atomic.Int64
	pid := s.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(string); ok {
			n.Add(1)
		}
	}))
	cancel := Every(s, 0, 20*time.Millisecond, pid, "tick")
	require.Eventually(t, func() bool { return n.Load() >= 3 }, 5*time.Second, 5*time.Millisecond)
	cancel()
	cancel() // twice is harmless
	s.Root.RequestFuture(pid, &actor.Touch{}, time.Second).Wait()
	after := n.Load()
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, after, n.Load(), "nothing is sent after Cancel returns")

	once := Once(s, 10*time.Millisecond, pid, "once")
	require.Eventually(t, func() bool { return n.Load() == after+1 }, 5*time.Second, 5*time.Millisecond)
	once()
	never := Once(s, 50*time.Millisecond, pid, "never")
	never()
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, after+1, n.Load())
}

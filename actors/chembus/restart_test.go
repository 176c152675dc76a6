package chembus

import (
	"fmt"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors/actortest"
	"github.com/kloros/kloros-observer/messages"
)

// colonyHeartbeat is a HEARTBEAT exactly as the colony's current bus module
// sends it (SPEC §1.3): compact JSON, uptime_s = time.time(), processed_count
// = the size of its 60 s duplicate window, "channel" after schema_version.
func colonyHeartbeat(zooid string, wall float64, processed int) []byte {
	return fmt.Appendf(nil, `{"signal":"HEARTBEAT","ecosystem":"colony","intensity":1.0,"facts":{"zooid":%q,"niche":"maintenance","uptime_s":%.6f,"processed_count":%d},"incident_id":null,"trace":null,"ts":%.6f,"schema_version":1,"channel":"legacy"}`,
		zooid, wall, processed, wall)
}

// ourHeartbeat is this daemon's own HEARTBEAT: uptime_s is a real uptime.
func ourHeartbeat(uptime, wall float64, processed int) []byte {
	return fmt.Appendf(nil, `{"signal":"HEARTBEAT","ecosystem":"colony","intensity":1.0,"facts":{"zooid":"kloros_observer","niche":"monitoring","uptime_s":%g,"processed_count":%d},"incident_id":null,"trace":null,"ts":%.6f,"schema_version":1}`,
		uptime, processed, wall)
}

// A restart is inferred only from a heartbeat whose uptime_s says the
// process started after its previous heartbeat: never from the colony's
// processed_count going down (its 60 s window shrinks in normal operation)
// nor from its wall-clock uptime_s (even stepped back an hour).
func TestRestartInferredOnlyFromUptime(t *testing.T) {
	s := actortest.NewSystem(t)
	bus, _ := actortest.Probe(t, s)
	deps := actortest.Deps(t, nil)
	cfg := regCfg(t, bus, t.TempDir())
	cfg.Threshold = time.Hour // no deadline passes during the test
	reg := spawnReg(t, s, cfg, deps)
	start := time.Now()
	wall0 := float64(start.UnixNano()) / 1e9
	send := func(payload []byte, after time.Duration) {
		t.Helper()
		d := decodeFrames([][]byte{[]byte(messages.TopicHeartbeat), payload}, 64*1024, start.Add(after))
		require.Empty(t, d.reason, "%s", payload)
		require.NotNil(t, d.hb)
		s.Root.Send(reg, d.hb)
	}
	restarts := func() float64 {
		t.Helper()
		_, err := s.Root.RequestFuture(reg, &actor.Touch{}, 5*time.Second).Result() // everything sent is applied
		require.NoError(t, err)
		return actortest.CounterValue(t, deps.Metrics, "kloros_observer_zooid_restarts_detected_total", nil)
	}

	// A Python zooid every 10 s with its double tap, its window going up and down.
	for i, processed := range []int{4, 9, 3, 0, 7, 1} {
		at := time.Duration(i) * 10 * time.Second
		send(colonyHeartbeat("kloros_intent_router", wall0+at.Seconds(), processed), at)
		send(colonyHeartbeat("kloros_intent_router", wall0+at.Seconds()+0.15, processed), at+150*time.Millisecond)
	}
	// Its host's clock stepped back an hour: uptime_s went down, still no restart.
	send(colonyHeartbeat("kloros_intent_router", wall0+60-3600, 2), 60*time.Second)
	require.Zero(t, restarts(), "the colony's heartbeats never say a zooid restarted")

	// Our own shape: 50 s, 60 s up, then restarted 2 s before its next beat.
	send(ourHeartbeat(50, wall0, 10), 0)
	send(ourHeartbeat(60, wall0+10, 11), 10*time.Second)
	send(ourHeartbeat(2, wall0+20, 0), 20*time.Second)
	send(ourHeartbeat(2.15, wall0+20.15, 0), 20*time.Second+150*time.Millisecond) // double tap: the same run
	require.Equal(t, 1.0, restarts())
}

package rules

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/messages"
)

// BenchmarkOnEvent: one event through the default rules that read its type
// (the per-event cost the pipeline pays in each rule actor).
func BenchmarkOnEvent(b *testing.B) {
	set := Default()
	for _, tc := range []struct{ typ, key string }{
		{"promotion_new", "path"}, {"lock_contention_high", "metric"}, {"phase_duration_high", "metric"},
		{"dream_heartbeat", "path"}, {"gpu_oom", "unit"},
	} {
		b.Run(tc.typ, func(b *testing.B) {
			var ins []*Instance
			for _, name := range set.Routes()[tc.typ] {
				ins = append(ins, set.Rule(name).New())
			}
			evs := make([]*messages.Event, 1024)
			for i := range evs {
				evs[i] = &messages.Event{Source: "bench", Type: tc.typ, TS: testStart,
					Data: map[string]any{tc.key: fmt.Sprintf("/x/%d", i), "value": float64(i % 20)}}
			}
			now := testStart
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				now = now.Add(61 * time.Second)
				for _, in := range ins {
					in.OnEvent(evs[i%len(evs)], now)
				}
				i++
			}
		})
	}
}

// BenchmarkLoadCold: 1,005 rules (the default file's fifteen copied under
// new names) loaded with every cache emptied first, as at start-up, with
// compiled programs shared between identical expressions (the default) and
// without (every expression compiled: rules whose expressions all differ).
func BenchmarkLoadCold(b *testing.B) {
	src := string(DefaultFile)
	body := src[strings.Index(src, "rules:\n")+len("rules:\n"):]
	var sb strings.Builder
	sb.WriteString("version: 1\nrules:\n")
	for c := range 67 {
		copyC := body
		for _, name := range Default().Names() {
			copyC = strings.Replace(copyC, "  - name: "+name+"\n", fmt.Sprintf("  - name: %s_%d\n", name, c), 1)
		}
		sb.WriteString(copyC)
	}
	path := filepath.Join(b.TempDir(), "rules.yaml")
	require.NoError(b, os.WriteFile(path, []byte(sb.String()), 0o644))
	for _, share := range []bool{true, false} {
		b.Run(fmt.Sprintf("share=%v", share), func(b *testing.B) {
			defer func(old bool) { shareProg = old }(shareProg)
			shareProg = share
			b.ReportAllocs()
			for b.Loop() {
				clearCaches()
				set, err := Load([]string{path}, nil)
				require.NoError(b, err)
				require.Len(b, set.Rules(), 1005)
			}
		})
	}
}

func clearCaches() {
	cacheMu.Lock()
	clear(cache)
	clear(fileCache)
	cacheMu.Unlock()
	progMu.Lock()
	clear(progCache)
	progMu.Unlock()
	treeMu.Lock()
	clear(trees)
	treeMu.Unlock()
}

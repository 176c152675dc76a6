package rules

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/messages"
)

// TestFastMatchesVM runs every program that has a Go fast path both ways,
// over events whose data.value, data.unit and ts take awkward values, and
// wants the same result.
func TestFastMatchesVM(t *testing.T) {
	src := `version: 1
rules:
  - name: when_or
    kind: match
    on: [x]
    params:
      threshold: {type: duration, default: 2h}
    when: "!isnum(data.value) || num(data.value) > seconds(params.threshold)"
    intent: {type: t, priority: 5, reason: r}
  - name: when_and
    kind: match
    on: [x]
    params:
      lim: {type: float, default: 3.5}
      n: {type: int, default: 2}
      w: {type: duration, default: 90s}
    when: "isnum(data.value) && num(data.value) >= params.lim and not (num(data.value) == 7) && num(data.value) != params.n"
    let:
      a: "isnum(data.value) ? str(data.unit) : source"
      b: "num(data.value) < 2.5 ? 1 : (ts <= 0 ? nil : type)"
      c: "str(a)"
      d: "num(data.unit) > 1"
      e: "params.n"
      f: "seconds(params.w)"
    group_by: "str(data.unit)"
    intent: {type: t, priority: 5, reason: r}
  - name: value
    kind: count
    on: [x]
    value: "isnum(data.value) ? num(data.value) : nil"
    threshold: 3
    window: 1m
    intent: {type: t, priority: 5, reason: r}
`
	p := filepath.Join(t.TempDir(), "fast.yaml")
	require.NoError(t, os.WriteFile(p, []byte(src), 0o644))
	custom, err := Load([]string{p}, nil)
	require.NoError(t, err)
	def, err := Load(nil, nil)
	require.NoError(t, err)

	values := []any{nil, 0.0, 1.0, 2.5, 3.5, 7.0, 8.0, 7200.0, 7200.5, -1.0, math.NaN(), math.Inf(1),
		3, int64(9), "4", "7201", "x", "", true, []any{1}, map[string]any{"a": 1}, float32(2.5)}
	units := []any{nil, "u.service", "", 2.0, "3"}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var evs []*messages.Event
	for _, v := range values {
		for _, u := range units {
			evs = append(evs, &messages.Event{Type: "x", Source: "s", TS: now, Data: map[string]any{"value": v, "unit": u}})
		}
	}
	evs = append(evs, &messages.Event{Type: "x", Source: "s"}, &messages.Event{Type: "x", Data: map[string]any{}})

	fast, nums := 0, 0
	for _, c := range append(custom.Rules(), def.Rules()...) {
		for _, ev := range evs {
			progs := []*program{c.when, c.groupBy}
			for _, l := range c.lets {
				progs = append(progs, l.p)
			}
			progs = append(progs, c.kind.programs()...)
			in := c.New()
			in.run.ev, in.run.now = ev, now
			all := map[string]bool{}
			for _, p := range c.programs() {
				p.idents(all)
			}
			u := varsOf(all)
			in.setEvent(ev, now, &u)
			for i, l := range c.lets { // the VM's values, as OnEvent would set them
				v, err := in.run.vm.Run(l.p.prog, in.run.env)
				if err != nil { // OnEvent would stop here
					for j := 2 + i; j < len(progs); j++ {
						progs[j] = nil
					}
					break
				}
				in.run.env[l.name] = v
			}
			for _, p := range progs {
				if p == nil || p.fast == nil {
					continue
				}
				fast++
				want, err := in.run.vm.Run(p.prog, in.run.env)
				require.NoError(t, err, "%s: %s over %v", c.Name(), p.src, ev.Data)
				got := p.fast(&in.run)
				require.Equal(t, fmt.Sprintf("%T %#v", want, want), fmt.Sprintf("%T %#v", got, got),
					"%s: %s over %v", c.Name(), p.src, ev.Data)
				if p.num != nil {
					wf, wok := toFloat(want)
					if _, isStr := want.(string); isStr {
						wok = false
					}
					gf, gok := p.num(&in.run)
					require.Equal(t, wok, gok, "%s: %s over %v", c.Name(), p.src, ev.Data)
					if wok {
						require.Equal(t, wf, gf, "%s: %s over %v", c.Name(), p.src, ev.Data)
					}
					nums++
				}
			}
		}
	}
	require.Greater(t, fast, 10*len(evs), "most of these programs have a fast path")
	require.Greater(t, nums, len(evs), "count values have a number path")
}

// TestPyFloatUnchanged: text() of a float (intentfile.PyFloat, now
// formatted on the stack) writes what the strconv.FormatFloat version did.
func TestPyFloatUnchanged(t *testing.T) {
	old := func(f float64) string {
		e := strconv.FormatFloat(f, 'e', -1, 64)
		exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
		if exp < -4 || exp >= 16 {
			return e
		}
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.ContainsRune(s, '.') {
			s += ".0"
		}
		return s
	}
	fs := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e-4, 9.99e-5, 1e-5, 1e15, 9999999999999998, 1e16, 1e17, -1e16,
		123456789.123, 1e308, -1e308, 5e-324, math.MaxFloat64, math.SmallestNonzeroFloat64, 1e100, 1e-100, 2.5, 7200, 11}
	for i := -30; i <= 30; i++ {
		fs = append(fs, math.Pow(10, float64(i)), -math.Pow(10, float64(i))*1.5, math.Nextafter(math.Pow(10, float64(i)), 0))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		f := math.Float64frombits(r.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		fs = append(fs, f, float64(r.IntN(1<<20)), float64(r.IntN(1000))/float64(r.IntN(999)+1))
	}
	for _, f := range fs {
		got, err := intentfile.PyFloat(f)
		require.NoError(t, err)
		if got != old(f) {
			t.Fatalf("PyFloat(%v) = %q, want %q", f, got, old(f))
		}
	}
}

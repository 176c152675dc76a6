package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kloros/kloros-observer/actors/rules"
)

// thousandRules writes a rule file of n rules: the default file's rules
// repeated under new names (every kind, every expression shape).
func thousandRules(b *testing.B, n int) string {
	src := string(rules.DefaultFile)
	i := strings.Index(src, "rules:\n")
	body := src[i+len("rules:\n"):]
	var sb strings.Builder
	sb.WriteString("version: 1\nrules:\n")
	names := rules.Default().Names()
	for k := 0; k*len(names) < n; k++ {
		copyK := body
		for _, name := range names {
			copyK = strings.Replace(copyK, "  - name: "+name+"\n", fmt.Sprintf("  - name: %s_%d\n", name, k), 1)
		}
		sb.WriteString(copyK)
	}
	p := filepath.Join(b.TempDir(), "rules.yaml")
	if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkRulesLoad: parse, check and compile a rule set (the work a
// reload does before it swaps; target for 1,000 rules: < 100 ms).
//   - cold: a file never loaded before (every rule compiled);
//   - reload: the same file with one rule's threshold edited, as an
//     operator's reload does (unchanged rules are reused, compiled once).
func BenchmarkRulesLoad(b *testing.B) {
	for _, n := range []int{15, 1000} {
		for _, mode := range []string{"cold", "reload"} {
			b.Run(fmt.Sprintf("rules=%d/%s", n, mode), func(b *testing.B) {
				p := thousandRules(b, n)
				src, err := os.ReadFile(p)
				if err != nil {
					b.Fatal(err)
				}
				set, err := rules.Load([]string{p}, nil)
				if err != nil {
					b.Fatal(err)
				}
				got := len(set.Rules())
				variants := [2][]byte{src, []byte(strings.Replace(string(src), "threshold: {type: int, default: 3, min: 1}",
					"threshold: {type: int, default: 4, min: 1}", 1))}
				b.ReportAllocs()
				var spent time.Duration
				k := 0
				for b.Loop() {
					path := p
					if mode == "cold" {
						path = filepath.Join(filepath.Dir(p), fmt.Sprintf("cold%d.yaml", k))
						_ = os.WriteFile(path, src, 0o644) // a new file: nothing cached
					} else {
						_ = os.WriteFile(path, variants[k%2], 0o644)
					}
					start := time.Now()
					if _, err := rules.Load([]string{path}, nil); err != nil {
						b.Fatal(err)
					}
					spent += time.Since(start)
					k++
				}
				b.ReportMetric(float64(spent.Microseconds())/1000/float64(k), "ms/load")
				b.ReportMetric(float64(got), "rules")
			})
		}
	}
}

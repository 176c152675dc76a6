package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kloros/kloros-observer/actors/rules"
)

// ruleCopies returns the default file's rules repeated under new names
// (every kind, every expression shape), k copies from copy `from`.
func ruleCopies(from, k int) string {
	src := string(rules.DefaultFile)
	body := src[strings.Index(src, "rules:\n")+len("rules:\n"):]
	names := rules.Default().Names()
	var sb strings.Builder
	for c := from; c < from+k; c++ {
		copyC := body
		for _, name := range names {
			copyC = strings.Replace(copyC, "  - name: "+name+"\n", fmt.Sprintf("  - name: %s_%d\n", name, c), 1)
		}
		sb.WriteString(copyC)
	}
	return sb.String()
}

// ruleFiles writes n rules (rounded up to whole copies of the default
// file) into `files` files of a new directory and returns the directory.
func ruleFiles(b *testing.B, n, files int) string {
	dir := b.TempDir()
	perCopy := len(rules.Default().Names())
	copies := (n + perCopy - 1) / perCopy
	per := (copies + files - 1) / files
	for f, c := 0, 0; c < copies; f++ {
		k := min(per, copies-c)
		body := "version: 1\nrules:\n" + ruleCopies(c, k)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("r%02d.yaml", f)), []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
		c += k
	}
	return dir
}

// cpuTime is the process's user+sys CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRulesLoad: parse, check and compile a rule set (the work a
// reload does before it swaps; target for 1,000 rules: < 100 ms).
//   - cold: files never loaded before (every rule compiled);
//   - reload: one rule's threshold edited between loads, as an operator's
//     reload does; unchanged rules are reused (compiled once), unchanged
//     files are not even parsed. files=1 puts all rules in one file (it is
//     parsed again whole), files=14 spreads them over a rules.d.
func BenchmarkRulesLoad(b *testing.B) {
	for _, tc := range []struct{ n, files int }{{15, 1}, {1000, 1}, {1000, 14}} {
		for _, mode := range []string{"cold", "reload"} {
			b.Run(fmt.Sprintf("rules=%d/files=%d/%s", tc.n, tc.files, mode), func(b *testing.B) {
				dir := ruleFiles(b, tc.n, tc.files)
				set, err := rules.Load([]string{dir}, nil)
				if err != nil {
					b.Fatal(err)
				}
				got := len(set.Rules())
				edit := filepath.Join(dir, "r00.yaml")
				src, err := os.ReadFile(edit)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				var spent, cpu time.Duration
				k := 0
				for b.Loop() {
					path := dir
					if mode == "cold" { // a copy under new names: nothing cached
						path = filepath.Join(b.TempDir(), "cold")
						if err := os.CopyFS(path, os.DirFS(dir)); err != nil {
							b.Fatal(err)
						}
					} else {
						// a threshold never used before: the file is new to the cache
						_ = os.WriteFile(edit, []byte(strings.Replace(string(src), "threshold: {type: int, default: 3, min: 1}",
							fmt.Sprintf("threshold: {type: int, default: %d, min: 1}", 4+k), 1)), 0o644)
					}
					start, cpu0 := time.Now(), cpuTime()
					if _, err := rules.Load([]string{path}, nil); err != nil {
						b.Fatal(err)
					}
					spent += time.Since(start)
					cpu += cpuTime() - cpu0
					k++
				}
				b.ReportMetric(float64(spent.Microseconds())/1000/float64(k), "ms/load")
				// CPU time (user+sys of the process, all threads) per load: on a
				// shared machine the wall time swings with the other tenants.
				b.ReportMetric(float64(cpu.Microseconds())/1000/float64(k), "cpu-ms/load")
				b.ReportMetric(float64(got), "rules")
			})
		}
	}
}

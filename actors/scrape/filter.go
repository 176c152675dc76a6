package scrape

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// maxLineBytes bounds one line of a scraped body; a longer line is a parse
// error (a real exposition line is a name, a few labels and a number).
const maxLineBytes = 64 << 10

// wantedNames is the set of metric family names the checks read, each
// reduced by baseName, so a family is kept whatever suffix it is exposed
// under (x_total for a counter, x_sum/x_count for a summary).
func wantedNames(checks []Check) map[string]bool {
	out := map[string]bool{}
	for _, c := range checks {
		for _, n := range []string{c.Metric, c.Ratio, c.Minus} {
			if n != "" {
				out[baseName(n)] = true
			}
		}
	}
	return out
}

func baseName(n string) string {
	for _, suf := range []string{"_total", "_sum", "_count", "_bucket", "_created"} {
		if b, ok := strings.CutSuffix(n, suf); ok {
			return b
		}
	}
	return n
}

// lineFilter streams a text-format body to the parser keeping only the
// lines (samples, # HELP and # TYPE) of the families the checks read. The
// parser builds every family it sees in memory (dto objects cost ~20× the
// text), so a 16 MiB body of one huge family once cost 200–800 MB; with the
// filter, memory per scrape is a fixed line buffer plus the series the checks
// need, whatever the body. Lines of other families are not parsed, only
// checked to begin with a valid metric name (or '#'), so garbage is still a
// parse error at its first line.
type lineFilter struct {
	r      *bufio.Reader
	wanted map[string]bool
	out    []byte // the kept line being handed out (a slice of buf)
	buf    []byte // reused for every line
	line   int
	err    error
}

func newLineFilter(r io.Reader, wanted map[string]bool) *lineFilter {
	return &lineFilter{r: bufio.NewReaderSize(r, 32<<10), wanted: wanted}
}

func (f *lineFilter) Read(p []byte) (int, error) {
	for len(f.out) == 0 {
		if f.err != nil {
			return 0, f.err
		}
		f.next()
	}
	n := copy(p, f.out)
	f.out = f.out[n:]
	return n, nil
}

// next reads one line into f.out if it is kept, or sets f.err.
func (f *lineFilter) next() {
	line, err := f.readLine()
	if err != nil {
		f.err = err
		if len(line) == 0 {
			return
		}
		line = append(line, '\n') // a last line without a newline
	}
	f.line++
	trimmed := bytes.TrimLeft(line, " \t")
	if len(bytes.TrimSpace(trimmed)) == 0 {
		return
	}
	var name []byte
	if trimmed[0] == '#' {
		fields := bytes.Fields(trimmed[1:])
		if len(fields) < 2 || (string(fields[0]) != "HELP" && string(fields[0]) != "TYPE") {
			return // other comments (and # EOF, handled before us) are not needed
		}
		name = fields[1]
	} else {
		end := bytes.IndexAny(trimmed, "{ \t")
		if end < 0 {
			end = len(bytes.TrimRight(trimmed, "\r\n"))
		}
		name = trimmed[:end]
		if !validName(name) {
			f.err = fmt.Errorf("line %d: invalid metric name %q", f.line, truncate(name, 40))
			return
		}
		if !validSampleTail(trimmed[end:]) {
			f.err = fmt.Errorf("line %d: invalid sample %q", f.line, truncate(trimmed, 60))
			return
		}
	}
	if f.wanted[baseName(string(name))] {
		f.out = line
	}
}

// readLine returns one line with its newline, at most maxLineBytes long.
func (f *lineFilter) readLine() ([]byte, error) {
	f.buf = f.buf[:0]
	for {
		chunk, err := f.r.ReadSlice('\n')
		f.buf = append(f.buf, chunk...)
		if len(f.buf) > maxLineBytes {
			return nil, fmt.Errorf("line %d: longer than %d bytes", f.line+1, maxLineBytes)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return f.buf, err
	}
}

// validSampleTail checks what follows a sample's name: optional labels in
// braces, then a number (a light check; kept lines are parsed in full).
func validSampleTail(rest []byte) bool {
	if len(rest) > 0 && rest[0] == '{' {
		j := bytes.LastIndexByte(rest, '}')
		if j < 0 {
			return false
		}
		rest = rest[j+1:]
	}
	fields := bytes.Fields(rest)
	if len(fields) == 0 {
		return false
	}
	_, err := strconv.ParseFloat(string(fields[0]), 64)
	return err == nil
}

func validName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for i, c := range b {
		if !(c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

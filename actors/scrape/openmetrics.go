package scrape

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// omToText rewrites an OpenMetrics 1.0 body, line by line, into what the
// Prometheus text parser accepts. expfmt v0.72 has no OpenMetrics parser and
// reads OpenMetrics with the text parser, which rejects
//   - exemplars (`foo_total 3 # {trace_id="a"} 1 1.7e9`) and timestamps in
//     seconds with a fraction: a sample line is cut to name{labels} value
//     (the checks use the scrape time, never the exposed timestamp);
//   - the types unknown, info and stateset: they are read as untyped.
//
// `# EOF` ends the body (anything after it is ignored, as the spec says);
// `# UNIT` and other comments pass through (the text parser skips them).
// `foo_created` samples stay series of their own.
type omToText struct {
	r   *bufio.Reader
	buf []byte
	err error
}

func newOMToText(r io.Reader) *omToText { return &omToText{r: bufio.NewReaderSize(r, 64<<10)} }

func (o *omToText) Read(p []byte) (int, error) {
	for len(o.buf) == 0 {
		if o.err != nil {
			return 0, o.err
		}
		line, err := o.r.ReadBytes('\n')
		if err != nil {
			o.err = err
		}
		if len(line) == 0 {
			continue
		}
		if out, eof := omLine(line); eof {
			o.err = io.EOF
		} else {
			o.buf = out
		}
	}
	n := copy(p, o.buf)
	o.buf = o.buf[n:]
	return n, nil
}

var errOMLine = errors.New("malformed OpenMetrics line")

// omLine rewrites one line (with or without its newline); eof reports `# EOF`.
func omLine(line []byte) (out []byte, eof bool) {
	body := bytes.TrimRight(line, "\r\n")
	if len(body) == 0 {
		return line, false
	}
	if body[0] == '#' {
		f := bytes.Fields(body)
		switch {
		case len(f) == 2 && string(f[1]) == "EOF":
			return nil, true
		case len(f) == 4 && string(f[1]) == "TYPE":
			switch string(f[3]) {
			case "unknown", "info", "stateset":
				return append(bytes.Join(append(f[:3:3], []byte("untyped")), []byte(" ")), '\n'), false
			}
		}
		return line, false
	}
	end, err := omSeriesEnd(body)
	if err != nil {
		return line, false // let the parser report it, with its line number
	}
	f := bytes.Fields(body[end:])
	if len(f) == 0 {
		return line, false
	}
	out = make([]byte, 0, end+len(f[0])+2)
	out = append(append(append(append(out, body[:end]...), ' '), f[0]...), '\n')
	return out, false
}

// omSeriesEnd returns where the series (name and label set) of a sample line
// ends: at the first blank outside a quoted label value.
func omSeriesEnd(b []byte) (int, error) {
	inBraces, inQuote := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case inQuote:
			if c == '\\' {
				i++
			} else if c == '"' {
				inQuote = false
			}
		case c == '"':
			inQuote = true
		case c == '{':
			inBraces = true
		case c == '}':
			if !inBraces {
				return 0, errOMLine
			}
			return i + 1, nil
		case (c == ' ' || c == '\t') && !inBraces:
			return i, nil
		}
	}
	return 0, errOMLine
}

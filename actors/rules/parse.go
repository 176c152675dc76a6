package rules

import (
	"bytes"
	"runtime"
	"sync"

	"go.yaml.in/yaml/v3"
)

// parseYAML parses a rule file into its document node. A large file whose
// rules: list is its last top-level key is cut at its items and the pieces
// parse on every CPU (YAML parsing is most of a cold load of 1,000 rules);
// each piece is padded with blank lines so its nodes carry the lines and
// columns they have in the file, and the items are put back under the one
// rules: list. Anything that does not fit the plain shape — anchors
// (an alias in one piece to an anchor in another does not parse), another
// document, a top-level key after rules:, a piece that does not parse —
// falls back to parsing the file whole, so errors read exactly as before.
func parseYAML(body []byte) (*yaml.Node, error) {
	if doc := parseChunked(body); doc != nil {
		return doc, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	return &doc, nil
}

// chunkMin is the size under which a file is parsed whole.
var chunkMin = 32 << 10

func parseChunked(body []byte) *yaml.Node {
	workers := runtime.GOMAXPROCS(0)
	if len(body) < chunkMin || workers < 2 || bytes.Contains(body, []byte("\n---")) ||
		bytes.Contains(body, []byte("\n...")) || bytes.HasPrefix(body, []byte("---")) {
		return nil
	}
	lines := bytes.SplitAfter(body, []byte("\n"))
	// the rules: key at column 0, and no top-level key after it
	start := -1
	for i, l := range lines {
		if bytes.Equal(bytes.TrimRight(l, " \r\n"), []byte("rules:")) {
			start = i
			break
		}
	}
	if start < 0 {
		return nil
	}
	var indent []byte
	var items []int // line index of each item's "- "
	for i := start + 1; i < len(lines); i++ {
		l := lines[i]
		t := bytes.TrimLeft(l, " ")
		if len(t) == 0 || t[0] == '\n' || t[0] == '\r' || t[0] == '#' {
			continue
		}
		if len(t) == len(l) {
			return nil // a top-level key after rules:
		}
		if bytes.ContainsAny(l, "&*") && anchorLike(t) {
			return nil
		}
		if !bytes.HasPrefix(t, []byte("- ")) {
			continue
		}
		ind := l[:len(l)-len(t)]
		if indent == nil {
			indent = ind
		}
		if len(ind) == len(indent) {
			items = append(items, i)
		}
	}
	if len(items) < 2*workers {
		return nil
	}
	// pieces: [start line, end line) of items, about equal in count
	type piece struct {
		from, to int
		doc      yaml.Node
		err      error
	}
	pieces := make([]piece, workers)
	for w := range workers {
		a, b := len(items)*w/workers, len(items)*(w+1)/workers
		pieces[w].from = items[a]
		pieces[w].to = len(lines)
		if b < len(items) {
			pieces[w].to = items[b]
		}
	}
	pieces[0].from = 0 // the first piece is the file's own head
	var wg sync.WaitGroup
	for w := range pieces {
		wg.Go(func() {
			p := &pieces[w]
			var buf bytes.Buffer
			if p.from > 0 {
				buf.Write(bytes.Repeat([]byte("\n"), p.from-1))
				buf.WriteString("rules:\n")
			}
			for _, l := range lines[p.from:p.to] {
				buf.Write(l)
			}
			p.err = yaml.Unmarshal(buf.Bytes(), &p.doc)
		})
	}
	wg.Wait()
	var list *yaml.Node
	for w := range pieces {
		p := &pieces[w]
		if p.err != nil {
			return nil
		}
		seq := rulesList(&p.doc)
		if seq == nil {
			return nil
		}
		if w == 0 {
			list = seq
			continue
		}
		list.Content = append(list.Content, seq.Content...)
	}
	return &pieces[0].doc
}

// rulesList is the rules: sequence of a parsed piece (nil if none).
func rulesList(doc *yaml.Node) *yaml.Node {
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "rules" && root.Content[i+1].Kind == yaml.SequenceNode {
			return root.Content[i+1]
		}
	}
	return nil
}

// anchorLike reports whether a line may hold a YAML anchor or alias: & or *
// right after a key's ": ", a "- " or at the start of a value.
func anchorLike(t []byte) bool {
	for _, mark := range [][]byte{[]byte(": &"), []byte(": *"), []byte("- &"), []byte("- *"), []byte("<<:"),
		[]byte("[&"), []byte("[*"), []byte("{&"), []byte("{*"), []byte(", &"), []byte(", *")} {
		if bytes.Contains(t, mark) {
			return true
		}
	}
	return t[0] == '&' || t[0] == '*'
}

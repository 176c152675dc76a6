//go:build linux

package deadletter

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Position is how far the file has been read: the identity of the file and
// the offset just past the last complete line read.
type Position struct {
	Dev    uint64 `json:"dev"`
	Ino    uint64 `json:"ino"`
	Offset int64  `json:"offset"`
}

func (p Position) sameFile(q Position) bool { return p.Dev == q.Dev && p.Ino == q.Ino }

// observation is one check of the file. Sent by the follower to the actor.
type observation struct {
	Pos        Position
	Count      int    // complete lines read in this check
	LastError  string // the "error" of the last of them that had one
	Historical bool   // the first check, with no checkpoint: the backlog
	Truncated  bool   // the file was truncated in place
	Rotated    bool   // a new file under the name
	Unparsed   int    // lines that were not JSON objects
}

// follower reads the dead-letter file. It is owned by one goroutine.
type follower struct {
	path    string
	maxLine int
	f       *os.File
	pos     Position
	// old is the file that was under the name before (rotated away or
	// removed), still open: a writer holding it open may append to it
	// until it moves on. It is read at every check until the file now
	// under the name has data, then closed.
	old    *os.File
	oldOff int64
	// resume is the checkpointed position, used once when the file is
	// first opened.
	resume *Position
	buf    []byte
}

func identity(fi os.FileInfo) (Position, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return Position{}, false
	}
	return Position{Dev: uint64(st.Dev), Ino: st.Ino}, true
}

// check reads what was added since the last check.
func (fl *follower) check() (observation, error) {
	var ob observation
	fi, err := os.Stat(fl.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return ob, err
	}
	var now Position
	if err == nil {
		now, _ = identity(fi)
	}
	if fl.f != nil && (err != nil || !now.sameFile(fl.pos)) {
		// Removed or replaced: what the writer appends to the old file is
		// still readable through our descriptor.
		fl.closeOld()
		fl.old, fl.oldOff, fl.f = fl.f, fl.pos.Offset, nil
		ob.Rotated = true
	}
	if fl.old != nil {
		if fl.oldOff, err = fl.read(fl.old, fl.oldOff, &ob); err != nil {
			return ob, err
		}
	}
	if err != nil { // no file now: nothing more to read
		fl.pos = Position{}
		ob.Pos = fl.pos
		return ob, nil
	}
	if fl.f == nil {
		f, err := os.Open(fl.path)
		if errors.Is(err, fs.ErrNotExist) {
			return ob, nil // went between stat and open: the next event tells
		}
		if err != nil {
			return ob, err
		}
		ofi, err := f.Stat()
		if err != nil {
			f.Close()
			return ob, err
		}
		id, _ := identity(ofi)
		fl.f, fl.pos = f, id
		if fl.resume != nil && fl.resume.sameFile(id) {
			fl.pos.Offset = fl.resume.Offset
		} else if fl.resume != nil && fl.resume.Ino != 0 {
			ob.Rotated = true // replaced while we were not running: all of it is new
		}
		fl.resume = nil
	}
	ofi, err := fl.f.Stat()
	if err != nil {
		return ob, err
	}
	if ofi.Size() < fl.pos.Offset {
		fl.pos.Offset = 0
		ob.Truncated = true
	}
	if ofi.Size() > 0 {
		fl.closeOld() // the writer has moved on to the new file
	}
	fl.pos.Offset, err = fl.read(fl.f, fl.pos.Offset, &ob)
	ob.Pos = fl.pos
	return ob, err
}

func (fl *follower) closeOld() {
	if fl.old != nil {
		fl.old.Close()
		fl.old = nil
	}
}

// read counts the complete lines of f from off to its end and returns the
// offset past the last one.
func (fl *follower) read(f *os.File, off int64, ob *observation) (int64, error) {
	if fl.buf == nil {
		fl.buf = make([]byte, 64<<10)
	}
	at := off       // where the next read starts
	var line []byte // the current line, up to maxLine bytes
	lineLen := 0
	for {
		n, err := f.ReadAt(fl.buf, at)
		at += int64(n)
		chunk := fl.buf[:n]
		for len(chunk) > 0 {
			i := bytes.IndexByte(chunk, '\n')
			part := chunk
			if i >= 0 {
				part = chunk[:i]
			}
			if room := fl.maxLine - len(line); room > 0 {
				line = append(line, part[:min(room, len(part))]...)
			}
			lineLen += len(part)
			if i < 0 {
				break
			}
			off += int64(lineLen) + 1
			fl.line(ob, line, lineLen)
			line, lineLen, chunk = line[:0], 0, chunk[i+1:]
		}
		if err == io.EOF || (err == nil && n == 0) {
			return off, nil // a partial last line stays unread until its newline
		}
		if err != nil {
			return off, err
		}
	}
}

// line takes one complete line (kept: its first maxLine bytes; n: its length).
func (fl *follower) line(ob *observation, kept []byte, n int) {
	if len(bytes.TrimSpace(kept)) == 0 && n == len(kept) {
		return // blank: not a dead letter
	}
	ob.Count++
	var v struct {
		Error json.RawMessage `json:"error"`
	}
	if n > len(kept) || json.Unmarshal(kept, &v) != nil {
		ob.Unparsed++
		return
	}
	if len(v.Error) == 0 || string(v.Error) == "null" {
		return
	}
	var s string
	if json.Unmarshal(v.Error, &s) == nil {
		ob.LastError = s
	} else {
		ob.LastError = string(v.Error) // an object or a number: as written
	}
}

func (fl *follower) close() {
	fl.closeOld()
	if fl.f != nil {
		fl.f.Close()
		fl.f = nil
	}
}

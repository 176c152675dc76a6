package intentfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kloros/kloros-observer/messages"
)

// EmittedBy is the emitted_by value of every intent this daemon writes.
const EmittedBy = "observer"

// Epoch returns t as Python's time.time() float.
func Epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// SanitizeType makes an intent type safe in a file name: anything but
// letters, digits, "_", "-" and "." becomes "_" (no "/", no whitespace), so
// names sort by their time prefix.
func SanitizeType(t string) string {
	var sb strings.Builder
	for _, r := range t {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
			sb.WriteRune(r)
		default:
			sb.WriteByte('_')
		}
		if sb.Len() >= 120 {
			break
		}
	}
	if sb.Len() == 0 {
		return "intent"
	}
	return sb.String()
}

// DedupHash identifies an intent for the emitter's identical-intent window:
// the hex SHA-256 of type, priority, reason and data (not the times).
func DedupHash(in *messages.Intent) (string, error) {
	b, err := Marshal(messages.Object{
		{Key: "intent_type", Value: in.Type}, {Key: "priority", Value: in.Priority},
		{Key: "reason", Value: in.Reason}, {Key: "data", Value: dataOf(in)},
	})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

func dataOf(in *messages.Intent) messages.Object {
	if in.Data == nil {
		return messages.Object{}
	}
	return in.Data
}

// Encoded is an intent ready to be written.
type Encoded struct {
	Name   string // {ts_ms}_{intent_type}_{hash8}.json
	Body   []byte // the file's bytes
	SHA256 string
	Dedup  string // the dedup hash (its first 8 hex digits are in Name)
}

// Encode lays out an intent as SPEC §1.1 requires, emitted at emittedAt.
func Encode(in *messages.Intent, emittedAt time.Time) (*Encoded, error) {
	if in.Priority < 0 || in.Priority > 10 {
		return nil, fmt.Errorf("intent %s: priority %d is outside 0..10", in.Type, in.Priority)
	}
	if in.Type == "" {
		return nil, errors.New("intent has an empty intent_type")
	}
	dedup, err := DedupHash(in)
	if err != nil {
		return nil, fmt.Errorf("intent %s: %w", in.Type, err)
	}
	gen := in.GeneratedAt
	if gen.IsZero() {
		gen = emittedAt
	}
	obj := messages.Object{
		{Key: "intent_type", Value: in.Type},
		{Key: "priority", Value: in.Priority},
		{Key: "reason", Value: in.Reason},
		{Key: "data", Value: dataOf(in)},
		{Key: "generated_at", Value: Epoch(gen)},
		{Key: "emitted_at", Value: Epoch(emittedAt)},
		{Key: "emitted_by", Value: EmittedBy},
	}
	hashed, err := Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("intent %s: %w", in.Type, err)
	}
	sum := sha256.Sum256(hashed)
	sha := hex.EncodeToString(sum[:])
	body, err := Marshal(append(obj, messages.KV{Key: "sha256", Value: sha}))
	if err != nil {
		return nil, err
	}
	return &Encoded{
		Name:   fmt.Sprintf("%d_%s_%s.json", emittedAt.UnixMilli(), SanitizeType(in.Type), dedup[:8]),
		Body:   body,
		SHA256: sha,
		Dedup:  dedup,
	}, nil
}

// ParseName splits {ts_ms}_{intent_type}_{hash8}.json.
func ParseName(name string) (ts time.Time, typ, hash8 string, ok bool) {
	base, found := strings.CutSuffix(name, ".json")
	if !found {
		return time.Time{}, "", "", false
	}
	first := strings.IndexByte(base, '_')
	last := strings.LastIndexByte(base, '_')
	if first <= 0 || last <= first || len(base)-last-1 != 8 {
		return time.Time{}, "", "", false
	}
	ms, err := strconv.ParseInt(base[:first], 10, 64)
	if err != nil || ms < 0 {
		return time.Time{}, "", "", false
	}
	if _, err := hex.DecodeString(base[last+1:]); err != nil {
		return time.Time{}, "", "", false
	}
	return time.UnixMilli(ms), base[first+1 : last], base[last+1:], true
}

// Verify checks an intent file's bytes the way the orchestrator does, and its
// shape: a JSON object whose sha256 matches the rest re-serialized in the
// file's key order, with the fields of SPEC §1.1.
func Verify(b []byte) error {
	v, err := Parse(b)
	if err != nil {
		return err
	}
	obj, ok := v.(messages.Object)
	if !ok {
		return errors.New("not a JSON object")
	}
	var sha string
	rest := make(messages.Object, 0, len(obj))
	for _, kv := range obj {
		if kv.Key == "sha256" {
			s, ok := kv.Value.(string)
			if !ok {
				return errors.New("sha256 is not a string")
			}
			sha = s
			continue
		}
		rest = append(rest, kv)
	}
	if sha == "" {
		return errors.New("no sha256 field")
	}
	again, err := Marshal(rest)
	if err != nil {
		return fmt.Errorf("re-serialize: %w", err)
	}
	sum := sha256.Sum256(again)
	if got := hex.EncodeToString(sum[:]); got != sha {
		return fmt.Errorf("sha256 mismatch: file says %s, content hashes to %s", sha, got)
	}
	if err := checkShape(rest); err != nil {
		return err
	}
	full, _ := Marshal(obj)
	if !bytes.Equal(full, b) {
		return errors.New("checksum is right but the file is not in the canonical indent=2 form")
	}
	return nil
}

func checkShape(o messages.Object) error {
	want := []string{"intent_type", "priority", "reason", "data", "generated_at", "emitted_at", "emitted_by"}
	if len(o) != len(want) {
		keys := make([]string, len(o))
		for i, kv := range o {
			keys[i] = kv.Key
		}
		return fmt.Errorf("fields are %v, want %v then sha256", keys, want)
	}
	for i, kv := range o {
		if kv.Key != want[i] {
			return fmt.Errorf("field %d is %q, want %q", i+1, kv.Key, want[i])
		}
	}
	if s, ok := o[0].Value.(string); !ok || s == "" {
		return fmt.Errorf("intent_type = %v: want a non-empty string", o[0].Value)
	}
	p, ok := o[1].Value.(Int)
	n, err := strconv.Atoi(string(p))
	if !ok || err != nil || n < 0 || n > 10 {
		return fmt.Errorf("priority = %v: want an integer 0..10", o[1].Value)
	}
	if _, ok := o[2].Value.(string); !ok {
		return fmt.Errorf("reason = %v: want a string", o[2].Value)
	}
	if _, ok := o[3].Value.(messages.Object); !ok {
		return fmt.Errorf("data = %v: want an object", o[3].Value)
	}
	for _, i := range []int{4, 5} {
		if _, ok := o[i].Value.(Float); !ok {
			return fmt.Errorf("%s = %v: want a float", o[i].Key, o[i].Value)
		}
	}
	if s, ok := o[6].Value.(string); !ok || s == "" {
		return fmt.Errorf("emitted_by = %v: want a non-empty string", o[6].Value)
	}
	return nil
}

// VerifyFile reads and verifies one intent file.
func VerifyFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return Verify(b)
}

// EnsureDir creates dir (and parents) with mode 0700 if it is missing.
func EnsureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

// File is one file of a batch.
type File struct {
	Name string
	Body []byte
}

// CommitBatch makes every file durable in dir: each is written to
// <name>.tmp (mode 0600) and fsynced — concurrently, so the fsyncs share
// journal commits — then renamed to its name, and one fsync of the directory
// makes all the renames durable together. A crash at any point leaves either
// no .json or a complete one. errs[i] is file i's error (nil: durable).
func CommitBatch(dir string, files []File) (errs []error) {
	errs = make([]error, len(files))
	if err := EnsureDir(dir); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range files {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = writeTmp(filepath.Join(dir, files[i].Name+".tmp"), files[i].Body)
		}()
	}
	wg.Wait()
	renamed := false
	for i, f := range files {
		if errs[i] != nil {
			continue
		}
		tmp := filepath.Join(dir, f.Name+".tmp")
		if err := os.Rename(tmp, filepath.Join(dir, f.Name)); err != nil {
			errs[i] = err
			os.Remove(tmp)
			continue
		}
		renamed = true
	}
	if renamed {
		if err := SyncDir(dir); err != nil {
			for i := range errs {
				if errs[i] == nil {
					errs[i] = fmt.Errorf("fsync directory: %w", err)
				}
			}
		}
	}
	return errs
}

// writeTmp writes and fsyncs one temporary file; on error it leaves nothing.
func writeTmp(path string, body []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(body); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// SyncDir fsyncs a directory, making renames in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// RemoveStale removes leftover *.tmp files (from a crash mid-write).
func RemoveStale(dir string) (int, error) {
	matches, err := filepath.Glob(filepath.Join(dir, "*.tmp"))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range matches {
		if os.Remove(m) == nil {
			n++
		}
	}
	return n, nil
}

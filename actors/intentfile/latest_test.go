package intentfile

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// The last body saved is the one on disk after Close, however many came
// before it; every write's outcome is reported, and a failing directory is
// reported, not fatal.
func TestLatestWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cursor")
	var mu sync.Mutex
	var oks, fails int
	w := NewLatestWriter(path, func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			fails++
			return
		}
		oks++
	})
	for i := range 1000 {
		w.Save([]byte{byte('a' + i%26)})
	}
	w.Save([]byte("last\n"))
	w.Close()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "last\n", string(b))
	require.Positive(t, oks)
	require.LessOrEqual(t, oks, 1001)
	require.Zero(t, fails)

	notDir := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(notDir, nil, 0o600))
	bad := NewLatestWriter(filepath.Join(notDir, "x"), func(err error) { // its directory is a file
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			fails++
		}
	})
	bad.Save([]byte("x"))
	bad.Close()
	require.Equal(t, 1, fails)
}

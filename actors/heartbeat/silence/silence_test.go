package silence

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors/clock"
)

func TestAddMatchExpirePersist(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "heartbeat", "silences.json")
	clk := clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	st, err := Open(path, clk.Now)
	require.NoError(t, err)

	one, err := st.Add(Spec{Zooid: "gpu-0", Until: clk.Now().Add(time.Hour), Comment: "maintenance"})
	require.NoError(t, err)
	_, err = st.Add(Spec{Niche: "io", Until: clk.Now().Add(2 * time.Hour), Comment: "rack"})
	require.NoError(t, err)
	pat, err := st.Add(Spec{Pattern: "old-.*", Until: clk.Now().Add(3 * time.Hour), Comment: "decommissioned"})
	require.NoError(t, err)

	now := clk.Now()
	require.Equal(t, one.ID, st.Match("gpu-0", "gpu", now).ID)
	require.Nil(t, st.Match("gpu-1", "gpu", now))
	require.NotNil(t, st.Match("anything", "io", now))
	require.Equal(t, pat.ID, st.Match("old-x", "gpu", now).ID)
	require.Nil(t, st.Match("xold-x", "gpu", now), "patterns are anchored")

	// Persisted: a new store from the file matches the same.
	st2, err := Open(path, clk.Now)
	require.NoError(t, err)
	require.Equal(t, pat.ID, st2.Match("old-x", "gpu", now).ID)
	require.Len(t, st2.List(), 3)

	// Expiry by time is automatic.
	clk.Advance(time.Hour + time.Second)
	require.Nil(t, st.Match("gpu-0", "gpu", clk.Now()))
	require.Equal(t, "expired", st.List()[2].State(clk.Now()), "expired ones list last")

	// Expire by hand, durable.
	_, err = st.Expire(pat.ID)
	require.NoError(t, err)
	require.Nil(t, st.Match("old-x", "gpu", clk.Now()))
	st3, err := Open(path, clk.Now)
	require.NoError(t, err)
	require.Nil(t, st3.Match("old-x", "gpu", clk.Now()))
	_, err = st.Expire("nope")
	require.ErrorIs(t, err, ErrNotFound)

	// Expired silences are dropped after a day.
	clk.Advance(KeepExpired + 3*time.Hour)
	_, err = st.Add(Spec{Zooid: "z", Until: clk.Now().Add(time.Minute)})
	require.NoError(t, err)
	require.Len(t, st.List(), 1)

	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

func TestValidateNamesTheField(t *testing.T) {
	now := time.Now()
	st, err := Open(filepath.Join(t.TempDir(), "s.json"), nil)
	require.NoError(t, err)
	for _, c := range []struct {
		spec  Spec
		field string
	}{
		{Spec{Until: now.Add(time.Hour)}, "zooid"},
		{Spec{Pattern: "a(b", Until: now.Add(time.Hour)}, "pattern"},
		{Spec{Pattern: strings.Repeat("a", MaxPatternLen+1), Until: now.Add(time.Hour)}, "pattern"},
		{Spec{Zooid: "z"}, "until"},
		{Spec{Zooid: "z", Until: now.Add(-time.Second)}, "until"},
		{Spec{Zooid: "z", Until: now.Add(400 * 24 * time.Hour)}, "until"},
		{Spec{Zooid: strings.Repeat("z", MaxNameLen+1), Until: now.Add(time.Hour)}, "zooid"},
		{Spec{Niche: "\xff", Until: now.Add(time.Hour)}, "niche"},
		{Spec{Zooid: "z", Until: now.Add(time.Hour), Comment: strings.Repeat("c", MaxCommentLen+1)}, "comment"},
	} {
		_, err := st.Add(c.spec)
		var fe *FieldError
		require.True(t, errors.As(err, &fe), "%+v: %v", c.spec, err)
		require.Equal(t, c.field, fe.Field, "%v", err)
	}
	require.Empty(t, st.List())
}

func TestCorruptFileIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	require.NoError(t, os.WriteFile(path, []byte("{not json"), 0o600))
	_, err := Open(path, nil)
	require.Error(t, err)
}

func BenchmarkMatch(b *testing.B) {
	st, err := Open(filepath.Join(b.TempDir(), "s.json"), nil)
	require.NoError(b, err)
	for i := range 20 {
		_, err := st.Add(Spec{Pattern: "batch-" + strings.Repeat("x", i) + ".*", Until: time.Now().Add(time.Hour)})
		require.NoError(b, err)
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		st.Match("gpu-worker-17", "gpu", now)
	}
}

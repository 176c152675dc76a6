package supervision

import (
	"path/filepath"
	"time"

	"github.com/kloros/kloros-observer/actors/journald"
)

// journaldSources declares the units source, with journald.systemd the
// source of systemd's own messages about the units (restarts, failed
// results; unit match only) and, with journald.kernel, the kernel source.
func journaldSources(b *Builder) ([]ChildSpec, error) {
	c := b.Config
	if !c.Journald.Enabled {
		return nil, nil
	}
	mk := func(name string, kernel bool) journald.Config {
		jc := c.Journald
		if jc.Since != "" {
			jc.Start, _ = time.Parse(time.RFC3339, jc.Since) // validated already
		}
		jc.Name, jc.ReadKernel, jc.Dispatcher = name, kernel, b.PID("dispatcher")
		jc.CheckpointFile = filepath.Join(c.StateDir, "journald", name+".cursor")
		return jc
	}
	out := []ChildSpec{b.Leaf("journald_units", PhaseInput, 0, "journal entries of "+joinUnits(c.Journald.Units),
		journald.New(mk("units", false), b.Deps))}
	if c.Journald.Systemd && c.Journald.Match == "unit" && len(c.Journald.Units) > 0 {
		// its own source, so the units source's match and per-entry reads stay
		// as cheap as they were (one journal match of three groups read 30%
		// fewer entries per second)
		sc := mk("systemd", false)
		sc.ReadManager = true
		out = append(out, b.Leaf("journald_systemd", PhaseInput, 0, "systemd's messages about "+joinUnits(c.Journald.Units),
			journald.New(sc, b.Deps)))
	}
	if c.Journald.Kernel {
		out = append(out, b.Leaf("journald_kernel", PhaseInput, 0, "kernel messages (_TRANSPORT=kernel)",
			journald.New(mk("kernel", true), b.Deps)))
	}
	return out, nil
}

func joinUnits(u []string) string {
	s := ""
	for i, x := range u {
		if i > 0 {
			s += ", "
		}
		s += x
	}
	return s
}

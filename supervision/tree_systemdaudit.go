package supervision

import "github.com/kloros/kloros-observer/actors/systemdaudit"

// systemdAuditSources declares the systemd audit.
func systemdAuditSources(b *Builder) ([]ChildSpec, error) {
	c := b.Config.SystemdAudit
	if !c.Enabled {
		return nil, nil
	}
	c.StateFile, c.Dispatcher = systemdaudit.StateFile(b.Config.StateDir), b.PID("dispatcher")
	return []ChildSpec{b.Leaf("systemd_audit", PhaseInput, 0,
		"disabled services and timers over D-Bus ("+c.Bus+"), every "+c.Interval.String(),
		systemdaudit.New(c, b.Deps))}, nil
}

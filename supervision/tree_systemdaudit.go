package supervision

import "github.com/kloros/kloros-observer/actors/systemdaudit"

// systemdAuditSources declares the systemd audit (systemd_audit:).
func systemdAuditSources(b *Builder) ([]ChildSpec, error) {
	c := b.Config
	if !c.SystemdAudit.Enabled {
		return nil, nil
	}
	return []ChildSpec{b.Leaf("systemd_audit", PhaseInput, 0,
		"disabled services and timers over D-Bus ("+c.SystemdAudit.Bus+"), every "+c.SystemdAudit.Interval.String(),
		systemdaudit.New(systemdaudit.Params{Config: c.SystemdAudit, StateFile: systemdaudit.StateFile(c.StateDir),
			Dispatcher: b.PID("dispatcher")}, b.Deps))}, nil
}

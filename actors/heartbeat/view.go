package heartbeat

import (
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Zooid states as View reports them.
const (
	StateAlive  = "alive"
	StateSilent = "silent"
	// StateGrace: known from the checkpoint, not heard since our start, still
	// within its threshold of grace.
	StateGrace = "restored-grace"
)

// ZooidInfo is one zooid as View reports it.
type ZooidInfo struct {
	Name        string
	Niche       string
	State       string
	LastSeen    time.Time
	Threshold   time.Duration
	Incident    string    // open episode's incident id
	SilentSince time.Time // when the open episode was detected
}

// View lets readers outside the actor system (the web API) see the registry
// without asking it: the registry publishes the list of its zooids' shared
// records (atomically swapped when the set changes, at most once a second
// for new zooids and at once for a forgotten one), and Zooids reads each
// record's atomics. A request for 100,000 zooids costs one pass over them and
// nothing of the registry's time.
type View struct {
	p atomic.Pointer[[]*zooidState]
}

// NewView returns an empty view for Config.View.
func NewView() *View {
	v := &View{}
	v.p.Store(&[]*zooidState{})
	return v
}

// Len is the number of zooids in the view.
func (v *View) Len() int {
	if v == nil {
		return 0
	}
	return len(*v.p.Load())
}

// Zooids returns every zooid's current state, by name.
func (v *View) Zooids() []ZooidInfo {
	if v == nil {
		return nil
	}
	sts := *v.p.Load()
	out := make([]ZooidInfo, len(sts))
	for i, st := range sts {
		z := ZooidInfo{Name: st.name, Niche: st.niche(), State: StateAlive, LastSeen: st.lastSeen(), Threshold: st.thresh()}
		if ep := st.ep.Load(); ep != nil {
			z.State, z.Incident, z.SilentSince = StateSilent, ep.id, ep.since
		} else if st.restored.Load() {
			z.State = StateGrace
		}
		out[i] = z
	}
	return out
}

func (v *View) publish(zs map[string]*zooidState) {
	if v == nil {
		return
	}
	list := make([]*zooidState, 0, len(zs))
	for _, st := range zs {
		list = append(list, st)
	}
	// By name, once per change of the set, so readers need not sort per request.
	slices.SortFunc(list, func(a, b *zooidState) int { return strings.Compare(a.name, b.name) })
	v.p.Store(&list)
}

// episodeView is what View reads of an open episode.
type episodeView struct {
	id    string
	since time.Time
}

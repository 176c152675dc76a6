package supervision

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kloros/kloros-observer/actors/telemetry"
)

// Undroppable marks control messages that a full mailbox still accepts
// (barriers, poison): dropping them would stall a checkpoint or a shutdown.
type Undroppable interface{ Undroppable() }

// Mailboxes makes bounded mailboxes and keeps, per actor kind, the current
// depth, the high-water mark and the number of messages dropped.
//
// protoactor's default mailbox grows without limit, and its BoundedDropping
// spins on a lock-free ring (protoactor-go #403). Ours is a plain slice queue
// behind a mutex that grows lazily up to its bound (so 100k idle watchers cost
// nothing) and drops the newest user message when full, counting it.
type Mailboxes struct {
	mu      sync.Mutex
	kinds   map[string]*kindStats
	dropped *prometheus.CounterVec
}

type kindStats struct {
	depth atomic.Int64
	max   atomic.Int64
	drops prometheus.Counter
}

// Depth is the current depth of every mailbox of an actor kind, summed.
func (mb *Mailboxes) Depth(kind string) int64 {
	mb.mu.Lock()
	s := mb.kinds[kind]
	mb.mu.Unlock()
	if s == nil {
		return 0
	}
	return s.depth.Load()
}

// NewMailboxes registers the depth collector on m's registry.
func NewMailboxes(m *telemetry.Metrics) *Mailboxes {
	mb := &Mailboxes{kinds: map[string]*kindStats{}, dropped: m.Core.MailboxDropped}
	m.Registry.MustRegister(mb)
	return mb
}

func (mb *Mailboxes) stats(kind string) *kindStats {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	s, ok := mb.kinds[kind]
	if !ok {
		s = &kindStats{drops: mb.dropped.WithLabelValues(kind)}
		mb.kinds[kind] = s
	}
	return s
}

var (
	depthDesc = prometheus.NewDesc(telemetry.Namespace+"_mailbox_depth_messages",
		"Messages waiting in bounded mailboxes, summed by actor kind.", []string{"actor"}, nil)
	depthMaxDesc = prometheus.NewDesc(telemetry.Namespace+"_mailbox_depth_max_messages",
		"Highest depth one mailbox of this actor kind reached since start.", []string{"actor"}, nil)
)

// Describe implements prometheus.Collector.
func (mb *Mailboxes) Describe(ch chan<- *prometheus.Desc) { ch <- depthDesc; ch <- depthMaxDesc }

// Collect implements prometheus.Collector.
func (mb *Mailboxes) Collect(ch chan<- prometheus.Metric) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	for k, s := range mb.kinds {
		ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(s.depth.Load()), k)
		ch <- prometheus.MustNewConstMetric(depthMaxDesc, prometheus.GaugeValue, float64(s.max.Load()), k)
	}
}

// Bounded returns a mailbox producer for actors of the given kind, holding at
// most size user messages.
func (mb *Mailboxes) Bounded(kind string, size int) actor.MailboxProducer {
	s := mb.stats(kind)
	return func() actor.Mailbox { return &boundedMailbox{limit: size, stats: s} }
}

// boundedMailbox implements actor.Mailbox. Its run loop follows protoactor's
// defaultMailbox (system messages first, suspension, throughput yields).
type boundedMailbox struct {
	limit int
	stats *kindStats

	mu   sync.Mutex
	user []any
	head int
	sys  []any

	userCount, sysCount int32
	status              int32 // idle / running
	suspended           int32

	invoker    actor.MessageInvoker
	dispatcher actor.Dispatcher
}

const (
	mbIdle int32 = iota
	mbRunning
)

func undroppable(m any) bool {
	if env, ok := m.(*actor.MessageEnvelope); ok {
		m = env.Message
	}
	switch m.(type) {
	case *actor.PoisonPill, *actor.Touch:
		return true
	case Undroppable:
		return true
	}
	return false
}

func (m *boundedMailbox) PostUserMessage(msg any) {
	m.mu.Lock()
	n := len(m.user) - m.head
	if n >= m.limit && !undroppable(msg) {
		m.mu.Unlock()
		m.stats.drops.Inc()
		return
	}
	m.user = append(m.user, msg)
	m.mu.Unlock()
	m.stats.depth.Add(1)
	if int64(n+1) > m.stats.max.Load() {
		m.stats.max.Store(int64(n + 1))
	}
	atomic.AddInt32(&m.userCount, 1)
	m.schedule()
}

func (m *boundedMailbox) popUser() any {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.head == len(m.user) {
		return nil
	}
	msg := m.user[m.head]
	m.user[m.head] = nil
	m.head++
	switch {
	case m.head == len(m.user):
		m.user, m.head = m.user[:0], 0
		if cap(m.user) > 1024 { // give back the memory of a burst
			m.user = nil
		}
	case m.head > 1024 && m.head > len(m.user)/2:
		k := copy(m.user, m.user[m.head:])
		clear(m.user[k:])
		m.user, m.head = m.user[:k], 0
	}
	m.stats.depth.Add(-1)
	return msg
}

func (m *boundedMailbox) PostSystemMessage(msg any) {
	m.mu.Lock()
	m.sys = append(m.sys, msg)
	m.mu.Unlock()
	atomic.AddInt32(&m.sysCount, 1)
	m.schedule()
}

func (m *boundedMailbox) popSys() any {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.sys) == 0 {
		return nil
	}
	msg := m.sys[0]
	m.sys[0] = nil
	m.sys = m.sys[1:]
	if len(m.sys) == 0 {
		m.sys = nil
	}
	return msg
}

func (m *boundedMailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	m.invoker, m.dispatcher = invoker, dispatcher
}

func (m *boundedMailbox) Start() {}

func (m *boundedMailbox) UserMessageCount() int { return int(atomic.LoadInt32(&m.userCount)) }

func (m *boundedMailbox) schedule() {
	if atomic.CompareAndSwapInt32(&m.status, mbIdle, mbRunning) {
		m.dispatcher.Schedule(m.process)
	}
}

func (m *boundedMailbox) process() {
	for {
		m.run()
		atomic.StoreInt32(&m.status, mbIdle)
		sys, user := atomic.LoadInt32(&m.sysCount), atomic.LoadInt32(&m.userCount)
		if sys > 0 || (atomic.LoadInt32(&m.suspended) == 0 && user > 0) {
			if atomic.CompareAndSwapInt32(&m.status, mbIdle, mbRunning) {
				continue
			}
		}
		return
	}
}

func (m *boundedMailbox) run() {
	var msg any
	defer func() {
		if r := recover(); r != nil {
			m.invoker.EscalateFailure(r, msg)
		}
	}()
	i, t := 0, m.dispatcher.Throughput()
	for {
		if i > t {
			i = 0
			runtime.Gosched()
		}
		i++
		if msg = m.popSys(); msg != nil {
			atomic.AddInt32(&m.sysCount, -1)
			switch msg.(type) {
			case *actor.SuspendMailbox:
				atomic.StoreInt32(&m.suspended, 1)
			case *actor.ResumeMailbox:
				atomic.StoreInt32(&m.suspended, 0)
			default:
				m.invoker.InvokeSystemMessage(msg)
			}
			continue
		}
		if atomic.LoadInt32(&m.suspended) == 1 {
			return
		}
		if msg = m.popUser(); msg == nil {
			return
		}
		atomic.AddInt32(&m.userCount, -1)
		m.invoker.InvokeUserMessage(msg)
	}
}

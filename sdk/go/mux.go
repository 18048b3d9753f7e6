package gateway

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"sort"
	"sync"
)

// HandlerFunc answers one forwarded request. A nil *Reply with a nil error is an
// empty answer with status 0. Errors map to HTTP statuses as the package
// documentation's table says.
type HandlerFunc func(ctx context.Context, req *Request) (*Reply, error)

// Mux routes the gateway's requests to handlers by cmd. It is an http.Handler;
// mount it at the path of the gateway's target URL (the URL path is not used
// for routing, the x-gateway-cmd header is). The zero Mux is ready to use, so
// a struct literal (&Mux{MaxBodyBytes: 4096}) works as NewMux does.
type Mux struct {
	// MaxBodyBytes bounds a request body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// ErrorLog receives handler errors answered 500 and recovered panics; nil
	// means the log package's standard logger.
	ErrorLog *log.Logger

	mu     sync.RWMutex
	cmds   map[uint32]HandlerFunc // made by the first Handle
	ranges []cmdRange             // sorted by first, never overlapping
	event  func(ctx context.Context, req *Request)
}

type cmdRange struct {
	first, last uint32
	h           HandlerFunc
}

// NewMux returns an empty Mux, the same as &Mux{}.
func NewMux() *Mux {
	return &Mux{}
}

// Handle registers h for cmd. It panics if cmd already has a handler, like
// http.ServeMux, because a silent override is a routing bug.
func (m *Mux) Handle(cmd uint32, h HandlerFunc) {
	if h == nil {
		panic("gateway: nil handler")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.cmds[cmd]; dup {
		panic(fmt.Sprintf("gateway: cmd %d registered twice", cmd))
	}
	if m.cmds == nil {
		m.cmds = make(map[uint32]HandlerFunc)
	}
	m.cmds[cmd] = h
}

// HandleRange registers h for every cmd from first to last, inclusive. A cmd
// registered with Handle wins over a range that contains it; ranges must not
// overlap each other (it panics).
func (m *Mux) HandleRange(first, last uint32, h HandlerFunc) {
	if h == nil {
		panic("gateway: nil handler")
	}
	if first > last {
		panic(fmt.Sprintf("gateway: empty cmd range %d-%d", first, last))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.ranges {
		if first <= r.last && r.first <= last {
			panic(fmt.Sprintf("gateway: cmd range %d-%d overlaps %d-%d", first, last, r.first, r.last))
		}
	}
	m.ranges = append(m.ranges, cmdRange{first, last, h})
	sort.Slice(m.ranges, func(i, j int) bool { return m.ranges[i].first < m.ranges[j].first })
}

// HandleEvent registers f for lifecycle events (Kind "event", Event "online" or
// "offline"). The answer (204) is sent when f returns, and the gateway posts a
// player's next event only after that, so f sees one player's events in order.
// Without a handler, events are answered 204 and ignored.
func (m *Mux) HandleEvent(f func(ctx context.Context, req *Request)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.event = f
}

// ServeHTTP implements http.Handler.
func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	maxBody := m.MaxBodyBytes
	if maxBody <= 0 {
		maxBody = DefaultMaxBodyBytes
	}
	req, err := parseRequest(r, maxBody)
	if err != nil {
		m.fail(w, nil, err)
		return
	}
	if req.Kind == KindEvent {
		m.serveEvent(r.Context(), w, req)
		return
	}
	h := m.lookup(req.Cmd)
	if h == nil {
		m.fail(w, req, &RejectError{http.StatusNotFound, fmt.Sprintf("no handler for cmd %d", req.Cmd)})
		return
	}
	reply, err := call(r.Context(), h, req)
	if err != nil {
		m.fail(w, req, err)
		return
	}
	reply.Write(w)
}

// serveEvent runs the event handler, if any, and acknowledges the event.
func (m *Mux) serveEvent(ctx context.Context, w http.ResponseWriter, req *Request) {
	m.mu.RLock()
	f := m.event
	m.mu.RUnlock()
	if f != nil {
		onEvent := func(ctx context.Context, req *Request) (*Reply, error) { f(ctx, req); return nil, nil }
		if _, err := call(ctx, onEvent, req); err != nil {
			m.fail(w, req, err) // a panic: 500, so the gateway counts the event as failed
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (m *Mux) lookup(cmd uint32) HandlerFunc {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if h, ok := m.cmds[cmd]; ok {
		return h
	}
	// The first range ending at or after cmd is the only one that can hold it.
	i := sort.Search(len(m.ranges), func(i int) bool { return m.ranges[i].last >= cmd })
	if i < len(m.ranges) && m.ranges[i].first <= cmd {
		return m.ranges[i].h
	}
	return nil
}

// call runs h and turns a panic into an error. Letting net/http recover it
// would reset the connection, which the gateway counts as the backend being
// unavailable (and toward its circuit breaker) instead of one failed request.
func call(ctx context.Context, h HandlerFunc, req *Request) (reply *Reply, err error) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p) // the handler asked net/http to abort the answer
			}
			reply, err = nil, fmt.Errorf("panic: %v", p)
		}
	}()
	return h(ctx, req)
}

// fail answers err with the status of the error table; errors that are the
// backend's fault are logged with the request id and answered without detail.
func (m *Mux) fail(w http.ResponseWriter, req *Request, err error) {
	status, message, internal := errorStatus(err)
	if internal {
		logger := m.ErrorLog
		if logger == nil {
			logger = log.Default()
		}
		if req != nil {
			logger.Printf("gateway: cmd %d kind %s request %s player %q: %v", req.Cmd, req.Kind, req.RequestID, req.PlayerID, err)
			message = "internal error (request " + req.RequestID + ")"
		} else {
			logger.Printf("gateway: %v", err)
		}
	}
	http.Error(w, message, status)
}

// Package live pushes changes to open pages over websockets. Changes reach every hub replica
// through NATS: the Relay (one active at a time across replicas) reads new domain_events rows
// after its own cursor, woken by a NOTIFY from the insert trigger, and publishes them on
// dmf.live.<entity>s; every replica's Hub subscribes to dmf.live.> and writes each message to its
// websocket clients. Other publishers (technician positions) put messages on the same subjects.
package live

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
)

// Subjects.
const (
	SubjectAll        = "dmf.live.>"
	SubjectWorkOrders = "dmf.live.work_orders"
	SubjectEvents     = "dmf.live.events"
)

// SubjectFor is the subject of a domain event's entity.
func SubjectFor(entity string) string {
	switch entity {
	case "work_order":
		return SubjectWorkOrders
	case "technician":
		return "dmf.live.technicians"
	}
	return SubjectEvents
}

// Message is what a client receives (one JSON text frame each).
type Message struct {
	Type     string          `json:"type"` // the entity: work_order, technician, …
	Topic    string          `json:"topic"`
	Entity   string          `json:"entity"`
	EntityID string          `json:"entity_id"`
	Payload  json.RawMessage `json:"payload"`
	EventID  int64           `json:"event_id,omitempty"`
	At       time.Time       `json:"at"`
}

const (
	sendBuffer = 512
	writeWait  = 10 * time.Second
	pongWait   = 60 * time.Second
	pingEvery  = 25 * time.Second
)

// Hub keeps this replica's websocket clients.
type Hub struct {
	Logger   *slog.Logger
	Upgrader websocket.Upgrader

	mu      sync.Mutex
	clients map[*client]struct{}
	closed  bool
}

type client struct {
	conn *websocket.Conn
	send chan []byte
	once sync.Once
}

func (c *client) close() { c.once.Do(func() { close(c.send) }) }

// NewHub returns an empty hub. The upgrader keeps gorilla's same-origin check.
func NewHub(logger *slog.Logger) *Hub {
	if logger == nil {
		logger = slog.Default()
	}
	return &Hub{Logger: logger, clients: map[*client]struct{}{},
		Upgrader: websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 8192}}
}

// Clients counts the open connections.
func (h *Hub) Clients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// Broadcast queues b for every client; a client too slow to keep up is disconnected (its page
// reconnects and reloads).
func (h *Hub) Broadcast(b []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		select {
		case c.send <- b:
		default:
			delete(h.clients, c)
			c.close()
		}
	}
}

// Subscribe relays every live NATS message to the clients.
func (h *Hub) Subscribe(nc *nats.Conn) (*nats.Subscription, error) {
	return nc.Subscribe(SubjectAll, func(m *nats.Msg) { h.Broadcast(m.Data) })
}

// Close disconnects everyone.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for c := range h.clients {
		delete(h.clients, c)
		c.close()
	}
}

// ServeHTTP upgrades an (already authorised) request and streams messages until either side
// closes. The client sends nothing but pongs and close frames.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	conn, err := h.Upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader wrote the error
	}
	c := &client{conn: conn, send: make(chan []byte, sendBuffer)}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		conn.Close()
		return
	}
	h.clients[c] = struct{}{}
	h.mu.Unlock()
	hello, _ := json.Marshal(Message{Type: "hello", Topic: "live.hello", At: time.Now().UTC()})
	c.send <- hello
	go h.writer(c)
	h.reader(c)
}

func (h *Hub) drop(c *client) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
	c.close()
}

func (h *Hub) reader(c *client) {
	defer h.drop(c)
	c.conn.SetReadLimit(4096)
	c.conn.SetReadDeadline(time.Now().Add(pongWait))
	c.conn.SetPongHandler(func(string) error { return c.conn.SetReadDeadline(time.Now().Add(pongWait)) })
	for {
		if _, _, err := c.conn.ReadMessage(); err != nil {
			return
		}
	}
}

func (h *Hub) writer(c *client) {
	t := time.NewTicker(pingEvery)
	defer func() {
		t.Stop()
		c.conn.Close()
	}()
	for {
		select {
		case b, ok := <-c.send:
			c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if !ok {
				c.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""))
				return
			}
			if err := c.conn.WriteMessage(websocket.TextMessage, b); err != nil {
				return
			}
		case <-t.C:
			c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		}
	}
}

package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/b2borders/platform/core/errs"
	"github.com/b2borders/platform/core/events"
	"github.com/b2borders/platform/core/page"
)

// EventJSON is an event as a webhook delivers it: its body, signed. The
// feed shows each with its delivery too (FeedEventJSON). Data is the
// resource as GET /orders/{id} or GET /products/{id} answered right after
// the change, byte for byte as stored.
type EventJSON struct {
	ID         string          `json:"id"`
	Type       events.Type     `json:"type"`
	Resource   ResourceJSON    `json:"resource"`
	Seq        int64           `json:"seq"`
	OccurredAt string          `json:"occurred_at"`
	Data       json.RawMessage `json:"data"`
}

// ResourceJSON names what an event is about.
type ResourceJSON struct {
	Type events.ResourceType `json:"type"`
	ID   string              `json:"id"`
}

// DeliveryJSON is where an event's webhook delivery stands.
type DeliveryJSON struct {
	Status      events.Status `json:"status"`
	Attempts    int           `json:"attempts"`
	LastError   *string       `json:"last_error"`
	DeliveredAt *string       `json:"delivered_at"`
}

// FeedEventJSON is an event in the feed.
type FeedEventJSON struct {
	EventJSON
	Delivery DeliveryJSON `json:"delivery"`
}

// NewEventJSON renders an event as a webhook sends it.
func NewEventJSON(e events.Event) EventJSON {
	data := json.RawMessage(e.Payload)
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	return EventJSON{
		ID: e.ID.String(), Type: e.Type, Resource: ResourceJSON{Type: e.Resource.Type, ID: e.Resource.ID.String()},
		Seq: e.Seq, OccurredAt: timeJSON(e.OccurredAt), Data: data,
	}
}

// RenderEvent is the body a webhook sends for e.
func RenderEvent(e events.Event) ([]byte, error) {
	return json.Marshal(NewEventJSON(e))
}

func newFeedEventJSON(e events.Published) FeedEventJSON {
	out := FeedEventJSON{EventJSON: NewEventJSON(e.Event), Delivery: DeliveryJSON{
		Status: e.Delivery.Status, Attempts: e.Delivery.Attempts, DeliveredAt: optionalTimeJSON(e.Delivery.DeliveredAt),
	}}
	if e.Delivery.LastError != "" {
		out.Delivery.LastError = &e.Delivery.LastError
	}
	return out
}

// EventHandler serves the change feed.
type EventHandler struct {
	feed    events.Feed
	cursors page.Codec
}

// NewEventHandler returns the feed's handler over feed, signing its
// positions with cursors.
func NewEventHandler(feed events.Feed, cursors page.Codec) *EventHandler {
	return &EventHandler{feed: feed, cursors: cursors}
}

// Register mounts the feed.
func (h *EventHandler) Register(r *mux.Router, a *Auth) {
	api := r.NewRoute().Subrouter()
	api.Use(a.RequireCaller)
	api.Handle("/events", handlerFunc(h.list)).Methods(http.MethodGet)
}

// list pages the feed. Unlike the lists, it is oldest first and always
// gives a next cursor: the position after which the next page starts, to
// poll with once the consumer has caught up.
func (h *EventHandler) list(w http.ResponseWriter, r *http.Request) error {
	qs := r.URL.Query()
	var fe errs.Fields
	q := events.FeedQuery{Limit: page.DefaultLimit}
	if s := qs.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > page.MaxLimit {
			fe.Add("limit", "must be a whole number from 1 to %d", page.MaxLimit)
		}
		q.Limit = n
	}
	if s := qs.Get("after"); s != "" {
		p, ok := h.cursors.DecodePosition(s)
		if !ok {
			fe.Add("after", "is not a cursor this service issued")
		}
		q.After = p
	}
	if s := qs.Get("types"); s != "" {
		for _, name := range strings.Split(s, ",") {
			t, ok := events.ParseType(strings.TrimSpace(name))
			if !ok {
				fe.Add("types", "%q is not an event type; the types are %s", name, typeList())
				continue
			}
			q.Types = append(q.Types, t)
		}
	}
	if err := fe.Err(); err != nil {
		return err
	}
	p, err := h.feed.Events(r.Context(), q)
	if err != nil {
		return err
	}
	out := ListJSON[FeedEventJSON]{Data: make([]FeedEventJSON, len(p.Events)), Page: PageJSON{HasMore: p.HasMore, Limit: q.Limit}}
	for i, e := range p.Events {
		out.Data[i] = newFeedEventJSON(e)
	}
	next := h.cursors.EncodePosition(p.Next)
	out.Page.NextCursor = &next
	respond(w, http.StatusOK, out)
	return nil
}

func typeList() string {
	names := make([]string, len(events.Types))
	for i, t := range events.Types {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

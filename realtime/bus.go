package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"
)

// Channel is the Redis pub/sub channel of an event's bus. The braces are a
// Redis Cluster hash tag: the event's keys and channel share a slot.
func Channel(eventID string) string {
	return "ev:{" + eventID + "}:bus"
}

// eventOf is the inverse of Channel.
func eventOf(channel string) (string, bool) {
	id, ok := strings.CutPrefix(channel, "ev:{")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(id, "}:bus")
}

// Publish sends msg to the clients of the event on every replica, this one
// included (through Redis, so every replica sees one order).
func (h *Hub) Publish(ctx context.Context, eventID string, msg Message) error {
	if err := msg.validate(); err != nil {
		return err
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encode %s: %w", msg.Type, err)
	}
	node, err := publisher(ctx, h.rdb, Channel(eventID))
	if err != nil {
		return fmt.Errorf("publish %s: %w", msg.Type, err)
	}
	if err := node.Publish(ctx, Channel(eventID), b).Err(); err != nil {
		return fmt.Errorf("publish %s: %w", msg.Type, err)
	}
	return nil
}

// publisher is where an event's messages are published. On a Redis Cluster a
// PUBLISH may go to any node and reaches the others over the cluster bus, so
// two messages sent to two nodes can arrive in either order: every message of
// a channel goes to the master of the channel's slot, and each replica hears
// them in the one order that node saw.
func publisher(ctx context.Context, rdb redis.UniversalClient, channel string) (redis.Cmdable, error) {
	c, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return rdb, nil
	}
	return c.MasterForKey(ctx, channel)
}

func (h *Hub) wakeSubscriber() {
	select {
	case h.resub <- struct{}{}:
	default: // a wake-up is pending; it will see this change too
	}
}

// subscribe keeps the Redis subscriptions in step with the events that have
// local clients. It runs apart from Serve so that a slow or absent Redis never
// holds a lock or delays a client's arrival.
func (h *Hub) subscribe(ctx context.Context) {
	subscribed := make(map[string]bool)
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.resub:
		}
		h.mu.Lock()
		var add, drop []string
		for id := range h.events {
			if !subscribed[id] {
				add = append(add, Channel(id))
				subscribed[id] = true
			}
		}
		for id := range subscribed {
			if h.events[id] == nil {
				drop = append(drop, Channel(id))
				delete(subscribed, id)
			}
		}
		h.mu.Unlock()
		// go-redis records the channels before writing, so after an error the
		// reconnect that follows restores the intended set: log and go on.
		if len(add) > 0 {
			if err := h.ps.Subscribe(ctx, add...); err != nil && ctx.Err() == nil {
				h.log.Error("subscribe live channels", "channels", add, "err", err)
			}
		}
		if len(drop) > 0 { // never empty: Unsubscribe() with no channel drops them all
			if err := h.ps.Unsubscribe(ctx, drop...); err != nil && ctx.Err() == nil {
				h.log.Error("unsubscribe live channels", "channels", drop, "err", err)
			}
		}
	}
}

// ErrResync ends the clients of an event whose subscription was lost and
// made again: what was published in between is gone, and Redis itself may
// have come back empty (the line with it), so each client reconnects and
// starts again from a snapshot, as after any drop.
var ErrResync = errors.New("live feed lost messages: reconnect")

// receive fans out bus messages until the subscription closes.
func (h *Hub) receive(msgs <-chan any) {
	confirmed := make(map[string]bool) // channels whose subscription Redis confirmed
	for in := range msgs {
		switch m := in.(type) {
		case *redis.Subscription:
			switch m.Kind {
			case "subscribe":
				if confirmed[m.Channel] {
					// go-redis subscribes again only after a lost connection.
					if id, ok := eventOf(m.Channel); ok {
						h.resync(id)
					}
				}
				confirmed[m.Channel] = true
			case "unsubscribe":
				delete(confirmed, m.Channel)
			}
		case *redis.Message:
			h.fanOut(m)
		}
	}
}

// resync ends every local client of the event with StatusTryAgainLater.
func (h *Hub) resync(eventID string) {
	ev := h.event(eventID)
	if ev == nil {
		return
	}
	ev.mu.Lock()
	all := slices.Clone(ev.clients)
	ev.mu.Unlock()
	h.log.Warn("live subscription restored: clients told to reconnect", "event", eventID, "clients", len(all))
	for _, c := range all {
		c.mu.Lock()
		c.shutdown(ErrResync, websocket.StatusTryAgainLater, "reconnect")
		c.mu.Unlock()
	}
}

func (h *Hub) fanOut(m *redis.Message) {
	id, ok := eventOf(m.Channel)
	if !ok {
		return
	}
	ev := h.event(id)
	if ev == nil {
		return // the last local client left after the message was sent
	}
	var msg Message
	if err := json.Unmarshal([]byte(m.Payload), &msg); err != nil {
		h.log.Warn("live message undecodable", "event", id, "err", err)
		return
	}
	ev.deliver(&msg)
}

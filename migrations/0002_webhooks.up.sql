-- Payment provider events already handled: a delivery seen twice has the effect
-- of one.
CREATE TABLE webhook_events (
    id          text PRIMARY KEY,
    provider    text NOT NULL,
    type        text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- The snapshot behind an inventory rebuild reads these per event.
CREATE INDEX holds_event_active_idx ON holds (event_id) WHERE status = 'ACTIVE';
CREATE INDEX bookings_event_idx ON bookings (event_id) WHERE status = 'CONFIRMED';

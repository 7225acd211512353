DROP INDEX IF EXISTS bookings_event_idx;
DROP INDEX IF EXISTS holds_event_active_idx;
DROP TABLE IF EXISTS webhook_events;

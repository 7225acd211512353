-- A booking's holds are read with every booking; without this, each read
-- scanned every hold.
CREATE INDEX holds_booking_idx ON holds (booking_id) WHERE booking_id IS NOT NULL;

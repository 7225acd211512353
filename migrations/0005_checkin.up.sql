-- A booked ticket is let in at the door once: the check-in belongs to the
-- booking's hold on the ticket (booking_tickets), not to the ticket row, which
-- a cancelled booking puts back on sale for someone else.
ALTER TABLE booking_tickets
    ADD COLUMN checked_in_at timestamptz,
    ADD COLUMN checked_in_by text REFERENCES users (id);
-- A code names its ticket; the check-in looks up which bookings sold it.
CREATE INDEX booking_tickets_ticket_idx ON booking_tickets (ticket_id);

DROP INDEX IF EXISTS booking_tickets_ticket_idx;
ALTER TABLE booking_tickets DROP COLUMN IF EXISTS checked_in_by, DROP COLUMN IF EXISTS checked_in_at;

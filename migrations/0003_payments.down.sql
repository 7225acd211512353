ALTER TABLE idempotency_keys DROP COLUMN IF EXISTS heartbeat_at;

ALTER TABLE bookings ADD COLUMN IF NOT EXISTS hold_id text REFERENCES holds (id);
UPDATE bookings b SET hold_id = (
    SELECT ph.hold_id FROM payment_holds ph WHERE ph.payment_id = b.payment_id ORDER BY ph.position LIMIT 1);
ALTER TABLE holds DROP CONSTRAINT IF EXISTS holds_booking_check;
UPDATE holds SET status = 'BOOKED' WHERE status = 'CANCELLED';
ALTER TABLE holds DROP CONSTRAINT IF EXISTS holds_status_check;
ALTER TABLE holds ADD CONSTRAINT holds_status_check CHECK (status IN ('ACTIVE', 'BOOKED', 'RELEASED', 'EXPIRED'));
ALTER TABLE holds DROP COLUMN IF EXISTS booking_id;

ALTER TABLE payments ADD COLUMN IF NOT EXISTS hold_id text REFERENCES holds (id) ON DELETE CASCADE;
ALTER TABLE payments ADD COLUMN IF NOT EXISTS client_secret text NOT NULL DEFAULT '';
UPDATE payments p SET hold_id = (
    SELECT ph.hold_id FROM payment_holds ph WHERE ph.payment_id = p.id ORDER BY ph.position LIMIT 1);
UPDATE payments p SET client_secret = c.client_secret FROM test_charges c WHERE p.provider = 'test' AND c.ref = p.provider_ref;
DROP INDEX IF EXISTS payments_user_idx;
DROP INDEX IF EXISTS payments_refund_due_idx;
DROP INDEX IF EXISTS payments_check_idx;
ALTER TABLE payments DROP CONSTRAINT IF EXISTS payments_status_check, DROP CONSTRAINT IF EXISTS payments_refund_due_check,
    DROP COLUMN IF EXISTS event_id, DROP COLUMN IF EXISTS refund_due, DROP COLUMN IF EXISTS refund_attempts,
    DROP COLUMN IF EXISTS refund_next_at, DROP COLUMN IF EXISTS refund_error, DROP COLUMN IF EXISTS check_at,
    DROP COLUMN IF EXISTS succeeded_at, DROP COLUMN IF EXISTS refunded_at;
CREATE INDEX IF NOT EXISTS payments_hold_idx ON payments (hold_id);
DROP TABLE IF EXISTS test_charges, payment_holds;

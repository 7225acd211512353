-- A payment pays for one or more holds of one fan in one event, and its row
-- carries its whole life (docs/PAYMENTS.md): every succeeded payment ends as a
-- booking or a refund, and a refund owed is written in the same transaction as
-- the change that owes it (refund_due), then retried until the provider says yes.
CREATE TABLE payment_holds (
    payment_id text NOT NULL REFERENCES payments (id) ON DELETE CASCADE,
    hold_id    text NOT NULL REFERENCES holds (id) ON DELETE CASCADE,
    position   integer NOT NULL,
    PRIMARY KEY (payment_id, hold_id)
);
CREATE INDEX payment_holds_hold_idx ON payment_holds (hold_id);
INSERT INTO payment_holds (payment_id, hold_id, position) SELECT id, hold_id, 0 FROM payments;

-- The built-in test provider's own ledger: what "the provider" knows, apart from
-- what Boxoffice recorded, as with Stripe.
CREATE TABLE test_charges (
    ref           text PRIMARY KEY,
    amount_cents  bigint NOT NULL,
    currency      text NOT NULL,
    status        text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'refunded', 'canceled')),
    client_secret text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
INSERT INTO test_charges (ref, amount_cents, currency, status, client_secret, created_at)
SELECT provider_ref, amount_cents, currency, status, client_secret, created_at FROM payments WHERE provider = 'test';

ALTER TABLE payments
    ADD COLUMN event_id        text REFERENCES events (id) ON DELETE CASCADE,
    ADD COLUMN refund_due      boolean NOT NULL DEFAULT false,
    ADD COLUMN refund_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN refund_next_at  timestamptz,
    ADD COLUMN refund_error    text NOT NULL DEFAULT '',
    ADD COLUMN check_at        timestamptz,
    ADD COLUMN succeeded_at    timestamptz,
    ADD COLUMN refunded_at     timestamptz;
UPDATE payments p SET event_id = h.event_id FROM holds h WHERE h.id = p.hold_id;
ALTER TABLE payments ALTER COLUMN event_id SET NOT NULL;
UPDATE payments SET succeeded_at = updated_at WHERE status IN ('succeeded', 'refunded');
-- A cancelled booking whose refund was lost (the bug this migration fixes) is owed one now.
UPDATE payments p SET refund_due = true, refund_next_at = now()
FROM bookings b WHERE b.payment_id = p.id AND b.status = 'CANCELLED' AND p.status = 'succeeded';
-- Succeeded without a booking: the settler books or refunds it at once.
UPDATE payments p SET check_at = now()
WHERE p.status IN ('pending', 'succeeded') AND NOT p.refund_due
  AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.payment_id = p.id);
ALTER TABLE payments DROP COLUMN hold_id, DROP COLUMN client_secret;
ALTER TABLE payments ADD CONSTRAINT payments_status_check CHECK (status IN ('pending', 'succeeded', 'failed', 'refunded'));
ALTER TABLE payments ADD CONSTRAINT payments_refund_due_check CHECK (NOT refund_due OR status = 'succeeded');
CREATE INDEX payments_user_idx ON payments (user_id, created_at DESC);
CREATE INDEX payments_refund_due_idx ON payments (refund_next_at) WHERE refund_due;
CREATE INDEX payments_check_idx ON payments (check_at) WHERE check_at IS NOT NULL;

-- One booking per payment: it may cover several holds. A hold knows the booking
-- it became; a cancelled booking's holds say CANCELLED.
ALTER TABLE holds ADD COLUMN booking_id text REFERENCES bookings (id);
UPDATE holds h SET booking_id = b.id FROM bookings b WHERE b.hold_id = h.id;
ALTER TABLE holds DROP CONSTRAINT holds_status_check;
ALTER TABLE holds ADD CONSTRAINT holds_status_check
    CHECK (status IN ('ACTIVE', 'BOOKED', 'RELEASED', 'EXPIRED', 'CANCELLED'));
UPDATE holds h SET status = 'CANCELLED' FROM bookings b WHERE b.id = h.booking_id AND b.status = 'CANCELLED';
ALTER TABLE holds ADD CONSTRAINT holds_booking_check CHECK ((booking_id IS NOT NULL) = (status IN ('BOOKED', 'CANCELLED')));
ALTER TABLE bookings DROP COLUMN hold_id;

-- An Idempotency-Key's first request says it is still alive; a key whose owner
-- stopped (its replica died) is taken over within seconds.
ALTER TABLE idempotency_keys ADD COLUMN heartbeat_at timestamptz NOT NULL DEFAULT now();

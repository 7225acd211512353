-- Users and their sign-in tokens. Only a token's SHA-256 is stored, so a database
-- leak does not hand out sessions.
CREATE TABLE users (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    email         text NOT NULL,
    password_hash bytea NOT NULL,
    role          text NOT NULL DEFAULT 'fan' CHECK (role IN ('fan', 'organizer')),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE auth_tokens (
    token_hash bytea PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX auth_tokens_user_idx ON auth_tokens (user_id);

CREATE TABLE events (
    id                    text PRIMARY KEY,
    name                  text NOT NULL,
    venue                 text NOT NULL DEFAULT '',
    currency              text NOT NULL DEFAULT 'usd',
    starts_at             timestamptz NOT NULL,
    lobby_opens_at        timestamptz NOT NULL,
    sale_opens_at         timestamptz NOT NULL,
    hold_seconds          integer NOT NULL CHECK (hold_seconds > 0),
    max_tickets_per_user  integer NOT NULL CHECK (max_tickets_per_user > 0),
    max_active_shoppers   integer NOT NULL CHECK (max_active_shoppers > 0),
    admission_rate        integer NOT NULL DEFAULT 0 CHECK (admission_rate >= 0),
    claim_seconds         integer NOT NULL DEFAULT 120 CHECK (claim_seconds > 0),
    presence_seconds      integer NOT NULL DEFAULT 300 CHECK (presence_seconds > 0),
    payment_grace_seconds integer NOT NULL DEFAULT 120 CHECK (payment_grace_seconds >= 0),
    created_by            text NOT NULL REFERENCES users (id),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CHECK (lobby_opens_at <= sale_opens_at AND sale_opens_at < starts_at)
);

CREATE TABLE zones (
    event_id    text NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    id          text NOT NULL,
    position    integer NOT NULL,
    name        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('pool', 'seated')),
    price_cents bigint NOT NULL CHECK (price_cents >= 0),
    capacity    integer NOT NULL CHECK (capacity > 0),
    rows        jsonb,
    PRIMARY KEY (event_id, id)
);

-- One row per ticket. Seated tickets carry their seat (row, position in the row,
-- id as the venue names it); pool tickets only their number within the zone.
CREATE TABLE tickets (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id   text NOT NULL,
    zone_id    text NOT NULL,
    number     integer NOT NULL,
    seat_id    text,
    seat_row   text,
    row_index  integer,
    seat_index integer,
    status     text NOT NULL DEFAULT 'AVAILABLE' CHECK (status IN ('AVAILABLE', 'RESERVED', 'BOOKED')),
    hold_id    text,
    booking_id text,
    FOREIGN KEY (event_id, zone_id) REFERENCES zones (event_id, id) ON DELETE CASCADE,
    UNIQUE (event_id, zone_id, number),
    UNIQUE (event_id, zone_id, seat_id),
    -- The status and the owner move together: a ticket is available with no owner,
    -- reserved by exactly one hold, or booked by exactly one booking.
    CHECK ((status = 'AVAILABLE' AND hold_id IS NULL AND booking_id IS NULL)
        OR (status = 'RESERVED' AND hold_id IS NOT NULL AND booking_id IS NULL)
        OR (status = 'BOOKED' AND booking_id IS NOT NULL))
);
-- Hands out free tickets in seat order without walking sold ones (see notes on SKIP LOCKED).
CREATE INDEX tickets_available_idx ON tickets (event_id, zone_id, number) WHERE status = 'AVAILABLE';
CREATE INDEX tickets_hold_idx ON tickets (hold_id) WHERE hold_id IS NOT NULL;
CREATE INDEX tickets_booking_idx ON tickets (booking_id) WHERE booking_id IS NOT NULL;

-- A hold (API: reservation) keeps tickets for a fan until paid, released or expired.
CREATE TABLE holds (
    id           text PRIMARY KEY,
    event_id     text NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    zone_id      text NOT NULL,
    user_id      text NOT NULL REFERENCES users (id),
    session_id   text NOT NULL DEFAULT '',
    amount_cents bigint NOT NULL CHECK (amount_cents >= 0),
    status       text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'BOOKED', 'RELEASED', 'EXPIRED')),
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    ended_at     timestamptz
);
CREATE INDEX holds_user_idx ON holds (user_id, created_at DESC);
CREATE INDEX holds_active_idx ON holds (expires_at) WHERE status = 'ACTIVE';

-- Which tickets a hold took. The partial unique index is the database's own refusal
-- of a second active hold on a ticket, whatever the application does.
CREATE TABLE hold_tickets (
    hold_id   text NOT NULL REFERENCES holds (id) ON DELETE CASCADE,
    ticket_id bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    active    boolean NOT NULL DEFAULT true,
    PRIMARY KEY (hold_id, ticket_id)
);
CREATE UNIQUE INDEX hold_tickets_one_active ON hold_tickets (ticket_id) WHERE active;

CREATE TABLE payments (
    id            text PRIMARY KEY,
    hold_id       text NOT NULL REFERENCES holds (id) ON DELETE CASCADE,
    user_id       text NOT NULL REFERENCES users (id),
    provider      text NOT NULL,
    provider_ref  text NOT NULL DEFAULT '',
    amount_cents  bigint NOT NULL CHECK (amount_cents >= 0),
    currency      text NOT NULL,
    status        text NOT NULL,
    client_secret text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX payments_provider_ref_key ON payments (provider, provider_ref) WHERE provider_ref <> '';
CREATE INDEX payments_hold_idx ON payments (hold_id);

CREATE TABLE bookings (
    id           text PRIMARY KEY,
    event_id     text NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    user_id      text NOT NULL REFERENCES users (id),
    hold_id      text NOT NULL UNIQUE REFERENCES holds (id),
    payment_id   text NOT NULL UNIQUE REFERENCES payments (id),
    amount_cents bigint NOT NULL CHECK (amount_cents >= 0),
    status       text NOT NULL DEFAULT 'CONFIRMED' CHECK (status IN ('CONFIRMED', 'CANCELLED')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    cancelled_at timestamptz
);
CREATE INDEX bookings_user_idx ON bookings (user_id, created_at DESC);

-- Which tickets a booking sold. A ticket is in at most one active booking: the
-- database refuses a double booking even to plain SQL.
CREATE TABLE booking_tickets (
    booking_id text NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    ticket_id  bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    active     boolean NOT NULL DEFAULT true,
    PRIMARY KEY (booking_id, ticket_id)
);
CREATE UNIQUE INDEX booking_tickets_one_active ON booking_tickets (ticket_id) WHERE active;

-- Idempotency-Key results, per caller and key, replayed to retries for 24 hours.
-- status 0 marks a request still in flight.
CREATE TABLE idempotency_keys (
    scope        text NOT NULL,
    key          text NOT NULL,
    request_hash bytea NOT NULL,
    status       integer NOT NULL DEFAULT 0,
    content_type text NOT NULL DEFAULT '',
    body         bytea NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

DROP TABLE IF EXISTS idempotency_keys, booking_tickets, bookings, payments, hold_tickets, holds,
    tickets, zones, events, auth_tokens, users;

DROP INDEX holds_booking_idx;

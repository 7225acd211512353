// The booking just made: its tickets, each with the spot for its code. After
// Stripe, the booking is made by the webhook, so the page waits for it.
import { ev, get, sleep } from "../api.js";
import { $, announce, eventId, failure, fill, h, money, needSignIn, notice, plural, renderAccount } from "../ui.js";
import { ticketItem } from "../order.js";

const id = eventId();
const params = new URLSearchParams(location.search);
const message = $("[data-message]");
renderAccount();

// bookingOfPayment waits up to a minute for a payment to become a booking.
async function bookingOfPayment(paymentId) {
  for (let i = 0; i < 60; i++) {
    const { payments } = await get("/me/payments");
    const p = payments.find((x) => x.id === paymentId);
    if (p && p.booking_id) return p.booking_id;
    if (p && (p.refund_pending || p.status === "refunded" || p.status === "failed")) return null;
    await sleep(1000);
  }
  return null;
}

try {
  let bookingId = params.get("booking");
  if (!bookingId && params.get("payment")) bookingId = await bookingOfPayment(params.get("payment"));
  const [{ event }, { bookings }] = await Promise.all([get(ev(id)), get("/me/bookings")]);
  const booking = bookingId && bookings.find((b) => b.id === bookingId);
  const title = $("[data-title]");
  if (!booking) {
    title.textContent = "No booking yet";
    notice(message, "We could not find this booking. If you paid and your hold had run out, the payment is refunded. Your tickets are always under My tickets.");
  } else {
    title.textContent = `You're going to ${event.name}!`;
    $("[data-summary]").textContent = `Booking ${booking.id}: ${plural(booking.tickets.length, "ticket")}, ${money(booking.amount_cents, booking.currency)} paid.`;
    fill($("[data-tickets]"), booking.tickets.map((t) => ticketItem(t, event)));
    announce(`Booked: ${plural(booking.tickets.length, "ticket")} for ${event.name}.`);
  }
  title.focus();
} catch (err) {
  if (!needSignIn(err)) failure(message, err);
}

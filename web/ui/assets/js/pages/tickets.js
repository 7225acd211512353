// My tickets: every booking with its tickets; cancelling asks first.
import { ApiError, ev, get, newKey, post } from "../api.js";
import { $, announce, busy, dateTime, failure, fill, h, money, needSignIn, notice, plural, renderAccount } from "../ui.js";
import { ticketItem } from "../order.js";

const message = $("[data-message]");
const dialog = $("[data-cancel-dialog]");
let target = null; // the booking the dialog asks about, with its card

renderAccount();

function bookingCard(b, event) {
  const cancelled = b.status !== "CONFIRMED";
  const title = event ? event.name : b.event_id;
  const card = h("article", { class: `card stack booking${cancelled ? " cancelled" : ""}`, "data-booking": b.id, "aria-labelledby": `b-${b.id}` },
    h("div", { class: "spread" },
      h("h2", { id: `b-${b.id}` }, title),
      h("span", { class: `badge badge-${b.status}`, "data-status": b.status }, cancelled ? "Cancelled" : "Confirmed")),
    event ? h("p", { class: "muted" }, [event.venue, dateTime(event.starts_at)].filter(Boolean).join(" · ")) : null,
    h("p", {}, `Booking ${b.id} · ${plural(b.tickets.length, "ticket")} · ${money(b.amount_cents, b.currency)}`));
  if (!cancelled) {
    card.append(h("ul", { class: "tickets", "aria-label": `Tickets for ${title}` }, b.tickets.map((t) => ticketItem(t, event))));
    const cancel = h("button", { type: "button", class: "secondary", "data-cancel": b.id }, "Cancel booking");
    cancel.setAttribute("aria-label", `Cancel booking ${b.id} for ${title}`);
    cancel.addEventListener("click", () => {
      target = { b, card, title, opener: cancel };
      $("[data-cancel-text]").textContent =
        `The ${plural(b.tickets.length, "ticket")} for ${title} go back on sale and ${money(b.amount_cents, b.currency)} is refunded to your card. This cannot be undone.`;
      dialog.showModal();
    });
    card.append(h("p", {}, cancel));
  }
  return card;
}

$("[data-keep]").addEventListener("click", () => dialog.close());
dialog.addEventListener("close", () => {
  if (target && target.opener.isConnected) target.opener.focus();
});

const confirmButton = $("[data-confirm-cancel]");
confirmButton.addEventListener("click", () => busy(confirmButton, async () => {
  const { b, card, title } = target;
  try {
    const { booking } = await post("/tickets/cancel", { booking_id: b.id }, { key: newKey() });
    target = null;
    dialog.close();
    const event = await get(ev(booking.event_id)).then((r) => r.event).catch(() => null);
    const replaced = bookingCard(booking, event);
    card.replaceWith(replaced);
    notice(message, `Booking ${b.id} for ${title} is cancelled. The refund is on its way.`, "ok");
    announce(`Booking for ${title} cancelled.`);
    message.setAttribute("tabindex", "-1");
    message.focus();
  } catch (err) {
    dialog.close();
    if (needSignIn(err)) return;
    if (err instanceof ApiError && err.code === "already_cancelled") notice(message, "This booking was already cancelled.", "warn");
    else failure(message, err);
  }
}));

const list = $("[data-bookings]");
try {
  const { bookings } = await get("/me/bookings");
  const ids = [...new Set(bookings.map((b) => b.event_id))];
  const events = new Map(await Promise.all(ids.map((eid) => get(ev(eid)).then((r) => [eid, r.event]).catch(() => [eid, null]))));
  bookings.sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  fill(list, bookings.length ? bookings.map((b) => bookingCard(b, events.get(b.event_id)))
    : h("p", {}, "No tickets yet. ", h("a", { href: "/" }, "Find an event")));
} catch (err) {
  fill(list);
  if (!needSignIn(err)) failure(message, err);
} finally {
  list.removeAttribute("aria-busy");
}

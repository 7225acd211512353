// How held and booked tickets read, shared by shopping, checkout and tickets.
import { h, plural } from "./ui.js";

export const zoneName = (event, zoneId) => {
  const z = event && event.zones.find((z) => z.id === zoneId);
  return z ? z.name : zoneId;
};

/** holdLine says what a reservation holds: "VIP seats 1A, 1B" or "GA, 2 tickets". */
export function holdLine(hold, event) {
  const seats = hold.tickets.map((t) => t.seat_id).filter(Boolean);
  const name = zoneName(event, hold.zone_id);
  return seats.length ? `${name} ${seats.length === 1 ? "seat" : "seats"} ${seats.join(", ")}` : `${name}, ${plural(hold.tickets.length, "ticket")}`;
}

export const ticketCount = (holds) => holds.reduce((n, x) => n + x.tickets.length, 0);

/**
 * ticketItem is one booked ticket. Its <div data-ticket-code> is where the
 * ticket's signed code and QR code go (the door check-in's part).
 */
export function ticketItem(ticket, event) {
  const what = ticket.seat_id ? `Seat ${ticket.seat_id}` : `Ticket ${ticket.id}`;
  return h("li", { class: "ticket", "data-ticket": ticket.id },
    h("p", {}, h("strong", {}, zoneName(event, ticket.zone_id)), h("br"), what),
    h("div", { "data-ticket-code": "", "data-ticket-id": ticket.id }));
}

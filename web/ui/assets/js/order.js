// How held and booked tickets read, shared by shopping, checkout and tickets.
import { dateTime, h, plural } from "./ui.js";

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
 * ticketCode is a booked ticket's signed code and its QR code (drawn by the
 * server as one SVG path, so the page needs no QR library), for the door to
 * scan or type. A ticket without a code (a cancelled booking) shows nothing.
 */
function ticketCode(ticket, label) {
  if (!ticket.code) return [];
  const out = [];
  if (ticket.qr) {
    const n = ticket.qr.size;
    out.push(h("svg", { class: "qr", viewBox: `0 0 ${n} ${n}`, role: "img", "aria-label": `QR code of ${label}`, "shape-rendering": "crispEdges" },
      h("rect", { width: n, height: n, fill: "#fff" }),
      h("path", { d: ticket.qr.path, fill: "#000" })));
  }
  out.push(h("p", { class: "code" }, h("span", { class: "visually-hidden" }, "Code "), h("code", { "data-code": "" }, ticket.code)));
  if (ticket.checked_in_at) out.push(h("p", { class: "badge badge-checked-in" }, `Checked in ${dateTime(ticket.checked_in_at)}`));
  return out;
}

/**
 * ticketItem is one booked ticket, with its code and QR code in its
 * <div data-ticket-code>.
 */
export function ticketItem(ticket, event) {
  const what = ticket.seat_id ? `Seat ${ticket.seat_id}` : `Ticket ${ticket.id}`;
  const zone = zoneName(event, ticket.zone_id);
  return h("li", { class: "ticket", "data-ticket": ticket.id },
    h("p", {}, h("strong", {}, zone), h("br"), what),
    h("div", { "data-ticket-code": "", "data-ticket-id": ticket.id }, ticketCode(ticket, `${zone} ${what}`)));
}

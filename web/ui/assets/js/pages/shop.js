// Shopping: the fan's turn. A seat map per seated zone (live: seats others
// take turn grey at once), a quantity for pools, "best available", the
// fan's holds, and the session's countdown always in view.
import { ApiError, ev, get, newKey, post } from "../api.js";
import { live } from "../live.js";
import { seatMap } from "../seatmap.js";
import {
  $, $$, announce, busy, countdown, eventId, failure, fill, h, milestones, money, needSignIn, notice, pageOf, plural, renderAccount,
} from "../ui.js";
import { holdLine, ticketCount } from "../order.js";

const id = eventId();
const message = $("[data-message]");
let event = null;
let holds = []; // the fan's ACTIVE reservations in this event
let booked = 0; // tickets the fan has bought in this event
let ended = false;
const maps = new Map(); // zone id → seat map
const chosen = new Map(); // zone id → Set of seat ids picked, not yet held
const pending = []; // seat.update messages that came before the maps
const reserving = new Set(); // "zone/seat" being held by this fan right now

renderAccount();
$("[data-line]").href = pageOf(id, "line");
$("[data-checkout]").href = pageOf(id, "checkout");

const held = () => holds.reduce((n, hold) => n + hold.tickets.length, 0);
const picked = () => [...chosen.values()].reduce((n, set) => n + set.size, 0);
const room = () => Math.max(0, event.max_tickets_per_user - held() - booked);

function renderLimit() {
  const left = room() - picked();
  $("[data-limit]").textContent = `You may buy up to ${plural(event.max_tickets_per_user, "ticket")} for this event. ` +
    (left > 0 ? `You can choose ${plural(left, "more ticket")}.` : "You have reached the limit.");
  for (const z of event.zones) {
    const sec = $(`[data-zone="${CSS.escape(z.id)}"]`);
    if (!sec) continue;
    const qty = $("input[type=number]", sec);
    if (qty) {
      qty.max = String(Math.max(1, Math.min(room(), z.available_tickets || 0)));
      if (Number(qty.value) > Number(qty.max)) qty.value = qty.max;
      syncQuantity(sec);
    }
  }
}

function renderHolds() {
  const list = $("[data-holds]");
  fill(list, holds.length ? holds.map((hold) => {
    const release = h("button", { type: "button", class: "secondary" }, "Release");
    release.setAttribute("aria-label", `Release ${holdLine(hold, event)}`);
    release.addEventListener("click", () => busy(release, () => releaseHold(hold)));
    return h("li", { class: "spread" }, h("span", {}, holdLine(hold, event), " · ", h("strong", {}, money(hold.amount_cents, hold.currency))), release);
  }) : h("li", { class: "muted" }, "Nothing held yet. Pick seats on a map or a number of tickets."));
  const total = holds.reduce((n, hold) => n + hold.amount_cents, 0);
  $("[data-total]").textContent = holds.length ? `Total ${money(total, event.currency)} for ${plural(ticketCount(holds), "ticket")}` : "";
  $("[data-checkout]").hidden = holds.length === 0 || ended;
  for (const [zone, map] of maps) {
    const mine = new Set(holds.filter((x) => x.zone_id === zone).flatMap((x) => x.tickets.map((t) => t.seat_id)));
    for (const c of $$(".seat", map.el)) map.set(c.dataset.seat, { mine: mine.has(c.dataset.seat) });
  }
  renderLimit();
}

async function releaseHold(hold) {
  try {
    await post("/tickets/cancel", { reservation_id: hold.id });
    holds = holds.filter((x) => x.id !== hold.id);
    announce(`Released ${holdLine(hold, event)}.`);
    renderHolds();
  } catch (err) {
    if (!needSignIn(err)) failure(message, err);
  }
}

// reserve asks for tickets in a zone; the answer or the reason goes on the page.
async function reserve(zone, body, box) {
  notice(box, "");
  try {
    const { reservation } = await post("/tickets/reserve", { event_id: id, zone_id: zone.id, ...body }, { key: newKey() });
    holds.push(reservation);
    renderHolds();
    const words = `Held ${holdLine(reservation, event)} for you.`;
    notice(box, words, "ok");
    announce(words);
    return true;
  } catch (err) {
    if (needSignIn(err)) return false;
    if (!(err instanceof ApiError)) throw err;
    switch (err.code) {
      case "seat_taken": {
        const gone = err.details.seats || [];
        for (const s of gone) {
          reserving.delete(`${zone.id}/${s}`);
          seatTaken(zone.id, s, "RESERVED", false);
        }
        notice(box, gone.length ? `Sorry, ${gone.length === 1 ? "seat " + gone[0] + " was" : "seats " + gone.join(", ") + " were"} just taken by someone else. Choose another.` : err.message);
        break;
      }
      case "sold_out":
        notice(box, "Not enough tickets are left for that. Try fewer, or another zone.");
        break;
      case "limit_reached":
        notice(box, `That would take you past the limit of ${plural(event.max_tickets_per_user, "ticket")} per fan.`);
        break;
      case "session_expired":
      case "not_admitted":
        end();
        break;
      default:
        notice(box, err.message);
    }
    return false;
  }
}

function toggle(zone, seat) {
  if (ended) return;
  const set = chosen.get(zone.id);
  const box = $(`[data-zone="${CSS.escape(zone.id)}"] [data-zone-message]`);
  if (set.has(seat)) {
    set.delete(seat);
  } else if (picked() >= room()) {
    notice(box, `You can choose at most ${plural(room(), "more ticket")}.`, "warn");
    return;
  } else {
    set.add(seat);
  }
  notice(box, "");
  maps.get(zone.id).set(seat, { selected: set.has(seat) });
  renderPicked(zone);
  renderLimit();
}

function renderPicked(zone) {
  const set = chosen.get(zone.id);
  const sec = $(`[data-zone="${CSS.escape(zone.id)}"]`);
  $("[data-picked]", sec).textContent = set.size ? `Chosen: ${[...set].sort().join(", ")} (${money(set.size * zone.price_cents, event.currency)})` : "No seats chosen.";
  $("[data-hold]", sec).disabled = set.size === 0 || ended;
}

// seatTaken marks a seat someone else took; a fan who had chosen it is told.
function seatTaken(zoneId, seat, status, live) {
  const map = maps.get(zoneId);
  if (!map) return;
  map.set(seat, { status });
  const set = chosen.get(zoneId);
  // Our own hold's update can beat its answer here: that seat is not lost.
  if (reserving.has(`${zoneId}/${seat}`)) return;
  if (status !== "AVAILABLE" && set.has(seat)) {
    set.delete(seat);
    map.set(seat, { selected: false });
    const zone = event.zones.find((z) => z.id === zoneId);
    renderPicked(zone);
    renderLimit();
    if (live) {
      const words = `Seat ${seat} in ${zone.name} was just taken by someone else. Choose another.`;
      notice($(`[data-zone="${CSS.escape(zoneId)}"] [data-zone-message]`), words, "warn");
      announce(words, true);
    }
  }
}

function legend() {
  const dot = (cls, extra = {}) => h("svg", { width: 18, height: 18, viewBox: "0 0 24 24", "aria-hidden": "true" },
    h("circle", { class: "seat", cx: 12, cy: 12, r: 9, ...extra, "data-status": cls }));
  return h("ul", { class: "legend" },
    h("li", {}, dot("AVAILABLE"), "Available"),
    h("li", {}, dot("AVAILABLE", { "aria-selected": "true" }), "Chosen"),
    h("li", {}, dot("RESERVED", { "data-mine": "true" }), "Held by you"),
    h("li", {}, dot("RESERVED"), "Taken"));
}

function quantityPicker(zone, label) {
  const input = h("input", { type: "number", id: `qty-${zone.id}`, min: 1, max: 1, value: 1, inputmode: "numeric", class: "qty" });
  const less = h("button", { type: "button", class: "secondary", "aria-label": `One fewer ${zone.name} ticket` }, "−");
  const more = h("button", { type: "button", class: "secondary", "aria-label": `One more ${zone.name} ticket` }, "+");
  const step = (d) => {
    input.value = String(Math.min(Number(input.max), Math.max(1, (Number(input.value) || 1) + d)));
    syncQuantity(input.closest("[data-zone]"));
  };
  less.addEventListener("click", () => step(-1));
  more.addEventListener("click", () => step(1));
  input.addEventListener("input", () => syncQuantity(input.closest("[data-zone]")));
  return h("div", { class: "field" }, h("label", { for: input.id }, label), h("div", { class: "stepper" }, less, input, more));
}

function syncQuantity(sec) {
  const input = $("input[type=number]", sec);
  const n = Math.max(1, Math.min(Number(input.max), Math.floor(Number(input.value)) || 1));
  const add = $("[data-add]", sec);
  const none = room() === 0 || ended;
  if (add) {
    add.textContent = add.dataset.seated ? `Find the best ${plural(n, "seat")}` : `Add ${plural(n, "ticket")}`;
    add.disabled = none;
  }
}

function zoneSection(zone, seats) {
  chosen.set(zone.id, new Set());
  const box = h("div", { class: "notice", "data-zone-message": "" });
  const head = h("div", { class: "spread" },
    h("h2", { id: `zone-${zone.id}` }, zone.name),
    h("p", {}, h("strong", {}, money(zone.price_cents, event.currency)), " · ", h("span", { "data-left": "" }, zone.available_tickets.toLocaleString()), " left"));
  const sec = h("section", { class: "card zone stack", "data-zone": zone.id, "aria-labelledby": `zone-${zone.id}` }, head);
  if (zone.kind === "seated") {
    const map = seatMap({ zone, seats, onToggle: (seat) => toggle(zone, seat) });
    maps.set(zone.id, map);
    const hold = h("button", { type: "button", "data-hold": "", disabled: true }, "Hold chosen seats");
    hold.addEventListener("click", () => busy(hold, async () => {
      const seatsWanted = [...chosen.get(zone.id)].sort();
      if (!seatsWanted.length) return;
      for (const s of seatsWanted) reserving.add(`${zone.id}/${s}`);
      try {
        if (await reserve(zone, { seats: seatsWanted }, box)) {
          chosen.get(zone.id).clear();
          for (const s of seatsWanted) map.set(s, { selected: false });
        }
      } finally {
        for (const s of seatsWanted) reserving.delete(`${zone.id}/${s}`);
      }
      renderPicked(zone);
      hold.disabled = chosen.get(zone.id).size === 0;
    }));
    const best = h("button", { type: "button", class: "secondary", "data-add": "", "data-seated": "1" }, "Find the best seat");
    best.addEventListener("click", () => busy(best, () =>
      reserve(zone, { quantity: Number($("input[type=number]", sec).value) || 1, best_available: true }, box)));
    sec.append(legend(), h("div", { class: "seatmap" }, map.el),
      h("p", { "data-picked": "", "aria-live": "polite" }, "No seats chosen."), box,
      h("div", { class: "row" }, hold),
      h("details", {}, h("summary", {}, "Or let us pick the best seats together"),
        h("div", { class: "row" }, quantityPicker(zone, "Number of seats"), best)));
  } else {
    const add = h("button", { type: "button", "data-add": "" }, "Add 1 ticket");
    add.addEventListener("click", () => busy(add, () =>
      reserve(zone, { quantity: Number($("input[type=number]", sec).value) || 1 }, box)));
    sec.append(h("p", { class: "muted" }, "General admission: no assigned seats."), quantityPicker(zone, "Number of tickets"), box, h("div", { class: "row" }, add));
  }
  return sec;
}

function end() {
  if (ended) return;
  ended = true;
  for (const b of $$("[data-zones] button")) b.disabled = true;
  $("[data-checkout]").hidden = true;
  $("[data-ended]").hidden = false;
  notice(message, "Your shopping time is over. The tickets you held are back on sale.");
  announce("Your shopping time is over. The tickets you held are back on sale.", true);
  $("[data-timer-bar]").classList.add("low");
}

function onLive(msg) {
  switch (msg.type) {
    case "seat.update":
      if (!maps.size) pending.push(msg);
      else for (const [seat, status] of Object.entries(msg.seats || {})) seatTaken(msg.zone_id, seat, status, true);
      break;
    case "availability.update": {
      const z = event && event.zones.find((z) => z.id === msg.zone_id);
      if (!z) break;
      z.available_tickets = msg.available_tickets;
      const cell = $(`[data-zone="${CSS.escape(z.id)}"] [data-left]`);
      if (cell) cell.textContent = z.available_tickets.toLocaleString();
      renderLimit();
      break;
    }
    case "session.expired":
      end();
      break;
    case "reservation.expired":
      holds = holds.filter((x) => x.id !== msg.reservation_id);
      renderHolds();
      break;
  }
}

try {
  const [evAnswer, place, mine, bookings] = await Promise.all([
    get(ev(id)), get(`${ev(id)}/queue`), get("/me/reservations"), get("/me/bookings"),
  ]);
  event = evAnswer.event;
  if (!place.session) {
    location.replace(pageOf(id, "line"));
  } else {
    document.title = `Choose tickets: ${event.name} · Boxoffice`;
    $("[data-event-name]").textContent = event.name;
    holds = mine.reservations.filter((x) => x.event_id === id && x.status === "ACTIVE");
    booked = bookings.bookings.filter((b) => b.event_id === id && b.status === "CONFIRMED").reduce((n, b) => n + b.tickets.length, 0);
    const state = $("[data-conn]");
    live(id, {
      onMessage: onLive,
      onState: (s) => {
        state.dataset.liveState = s;
        state.textContent = s === "live" ? "Seats update live." : "Reconnecting… seats may be out of date for a moment.";
      },
    });
    const bar = $("[data-timer-bar]");
    countdown($("[data-session-clock]"), Date.parse(place.session.expires_at), {
      speak: milestones("Time left to shop:"),
      onTick: (left) => bar.classList.toggle("low", left < 60000),
      onDone: end,
    });
    const seatLists = await Promise.all(event.zones.map((z) =>
      z.kind === "seated" ? get(`${ev(id)}/zones/${encodeURIComponent(z.id)}/seats`).then((r) => r.seats) : null));
    const zones = $("[data-zones]");
    fill(zones, event.zones.map((z, i) => zoneSection(z, seatLists[i])));
    zones.removeAttribute("aria-busy");
    for (const msg of pending.splice(0)) onLive(msg);
    renderHolds();
  }
} catch (err) {
  if (err instanceof ApiError && (err.code === "not_in_line" || err.code === "place_lost")) location.replace(pageOf(id, "line"));
  else if (!needSignIn(err)) failure(message, err);
}

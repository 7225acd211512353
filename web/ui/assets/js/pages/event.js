// An event: its zones and prices, tickets left per zone live, and the way into
// the line (the lobby before the sale opens).
import { ApiError, ev, get } from "../api.js";
import { live } from "../live.js";
import { $, countdown, dateTime, failure, fill, h, me, money, pageOf, renderAccount, signInUrl, timeOfDay } from "../ui.js";
import { saleLabel } from "../sale.js";

const id = eventId();
const message = $("[data-message]");
let event = null;
let user = null;
let timer = null;

function eventId() {
  const m = location.pathname.match(/^\/events\/([^/]+)$/);
  return m ? decodeURIComponent(m[1]) : "";
}

function renderZones() {
  fill($("[data-zones]"), event.zones.map((z) =>
    h("tr", { "data-zone": z.id },
      h("th", { scope: "row" }, z.name),
      h("td", {}, z.kind === "seated" ? "Assigned seats" : "General admission"),
      h("td", { class: "num" }, money(z.price_cents, event.currency)),
      h("td", { class: "num", "data-left": "" }, z.available_tickets > 0 ? z.available_tickets.toLocaleString() : "Sold out"))));
}

function renderSale() {
  if (timer) timer.stop();
  const box = $("[data-sale]");
  const lineUrl = pageOf(id, "line");
  const join = (text) => h("a", { class: "button", href: user ? lineUrl : signInUrl(lineUrl) }, user ? text : `Sign in to ${text.toLowerCase()}`);
  const status = event.sale_status;
  const badge = h("p", {}, h("span", { class: `badge badge-${status}`, "data-sale-status": status }, saleLabel(status)));
  const clockEl = h("span", { class: "countdown", role: "timer" });
  switch (status) {
    case "scheduled":
      fill(box, badge, h("p", {}, `The lobby opens at ${dateTime(event.lobby_opens_at)}, and the sale at ${timeOfDay(event.sale_opens_at)}.`),
        h("p", {}, "Lobby opens in ", clockEl));
      timer = countdown(clockEl, Date.parse(event.lobby_opens_at), { onDone: reload });
      break;
    case "lobby":
      fill(box, badge,
        h("p", {}, `The sale opens at ${timeOfDay(event.sale_opens_at)}. Everyone in the lobby then gets a random place in line, so arriving early but not first costs you nothing.`),
        h("p", {}, "Sale opens in ", clockEl),
        join("Join the lobby"));
      timer = countdown(clockEl, Date.parse(event.sale_opens_at), { onDone: reload });
      break;
    case "open":
      fill(box, badge, h("p", {}, "Tickets are on sale. Join the line: you will shop when it is your turn."), join("Join the line"));
      break;
    case "sold_out":
      fill(box, badge, h("p", {}, "Every ticket is sold or held. Held tickets that are not bought come back on sale; join the line to be told."), join("Join the line"));
      break;
    default:
      fill(box, badge, h("p", {}, "This sale is over."));
  }
}

// reload fetches the event again once a countdown ends (the status moves on).
async function reload() {
  await new Promise((r) => setTimeout(r, 500 + Math.random() * 1500));
  try {
    ({ event } = await get(ev(id)));
    renderSale();
  } catch (err) {
    failure(message, err);
  }
}

function onLive(msg) {
  if (msg.type === "availability.update" && event) {
    const z = event.zones.find((z) => z.id === msg.zone_id);
    if (!z) return;
    z.available_tickets = msg.available_tickets;
    const cell = $(`tr[data-zone="${CSS.escape(z.id)}"] [data-left]`);
    if (cell) cell.textContent = z.available_tickets > 0 ? z.available_tickets.toLocaleString() : "Sold out";
  } else if (msg.type === "sale.update" && event && msg.sale_status !== event.sale_status) {
    event.sale_status = msg.sale_status;
    renderSale();
  }
}

try {
  [{ event }, user] = await Promise.all([get(ev(id)), me().catch(() => null)]);
  renderAccount(user);
  document.title = `${event.name} · Boxoffice`;
  $("[data-name]").textContent = event.name;
  $("[data-when]").textContent = [event.venue, dateTime(event.starts_at)].filter(Boolean).join(" · ");
  renderZones();
  renderSale();
  const conn = $("[data-conn]");
  live(id, {
    onMessage: onLive,
    onState: (s) => {
      conn.dataset.liveState = s;
      conn.textContent = s === "live" ? "Tickets left update live." : "Reconnecting to live updates…";
    },
  });
} catch (err) {
  renderAccount();
  if (err instanceof ApiError && err.status === 404) {
    $("[data-name]").textContent = "Event not found";
    fill($("[data-sale]"), h("p", {}, h("a", { href: "/" }, "See all events")));
  } else failure(message, err);
}

// The organizer's live dashboard of an on-sale: tickets per zone, revenue, the
// line, charts over time, and the knobs (shoppers at once, admission rate,
// pause).
//
// Why it polls: the organizer's numbers (revenue, bookings, the line's length,
// the lobby, shoppers pending and active, the measured rate) are not on the
// live feed, which carries what fans need (their place, tickets left per zone,
// seats). Sending them there would make every fan's socket carry organizer
// data; one organizer polling GET /stats every 2 s costs the server one
// request. The socket is used too: a zone's tickets changing
// (availability.update) triggers a refresh at once, so a sale shows within a
// moment instead of at the next poll.
import { ApiError, ev, get, newKey } from "../api.js";
import { lineChart } from "../chart.js";
import { live } from "../live.js";
import { editUrl, organizerOnly, patchEvent } from "../organizer.js";
import { $, $$, announce, busy, dateTime, failure, fill, h, money, notice, pageOf } from "../ui.js";
import { saleLabel } from "../sale.js";

const pollEvery = 2000;
const keep = 150; // points per chart: five minutes at one every 2 s
const id = (location.pathname.match(/^\/events\/([^/]+)\/dashboard$/) || [])[1];
const eventId = id ? decodeURIComponent(id) : "";
const message = $("[data-message]");
const knobMessage = $("[data-knob-message]");
const series = { sold: [], line: [] };
let event = null;
let stats = null;
let inFlight = null;
let soon = null;

const num = (n) => Number(n).toLocaleString();

function render() {
  const zones = stats.zones;
  const sum = (k) => zones.reduce((a, z) => a + z[k], 0);
  const sold = sum("booked_tickets");
  const set = (k, v) => { $(`[data-stat="${k}"]`).textContent = v; };
  set("sold", num(sold));
  set("revenue", money(stats.revenue_cents, event.currency));
  set("held", num(sum("reserved_tickets")));
  set("available", num(sum("available_tickets")));
  set("line", num(stats.queue_length));
  set("lobby", num(stats.lobby_size));
  set("active", num(stats.active_shoppers));
  set("pending", num(stats.pending_admissions));
  set("rate", stats.admission_rate.toLocaleString(undefined, { maximumFractionDigits: 1 }));
  set("bookings", num(stats.bookings));
  const status = $("[data-sale-status]");
  status.className = `badge badge-${stats.sale_status}`;
  status.textContent = saleLabel(stats.sale_status);
  showPaused(stats.paused);

  const names = Object.fromEntries(event.zones.map((z) => [z.id, z.name]));
  fill($("[data-zones]"), zones.map((z) => h("tr", { "data-zone": z.id },
    h("th", { scope: "row" }, names[z.id] || z.id),
    h("td", { class: "num", "data-sold": "" }, num(z.booked_tickets)),
    h("td", { class: "num" }, num(z.reserved_tickets)),
    h("td", { class: "num" }, num(z.available_tickets)),
    h("td", { class: "num" }, num(z.capacity)),
    h("td", {}, bar(z)))));

  const now = Date.now();
  for (const [k, v] of [["sold", sold], ["line", stats.queue_length + stats.lobby_size]]) {
    series[k].push({ t: now, v });
    if (series[k].length > keep) series[k].shift();
  }
  lineChart($('[data-chart="sold"]'), series.sold, { label: "Tickets sold" });
  lineChart($('[data-chart="line"]'), series.line, { label: "Fans in line" });
}

function bar(z) {
  const part = (cls, n) => {
    const el = h("span", { class: cls });
    // Through the CSSOM: the pages' CSP refuses style attributes.
    el.style.width = `${z.capacity ? (100 * n) / z.capacity : 0}%`;
    return el;
  };
  return h("div", { class: "zone-bar", "aria-hidden": "true" }, part("sold", z.booked_tickets), part("held", z.reserved_tickets));
}

function showPaused(paused) {
  const button = $("[data-pause]");
  button.setAttribute("aria-pressed", String(paused));
  button.textContent = paused ? "Resume admissions" : "Pause admissions";
  $("[data-paused-badge]").hidden = !paused;
}

// refresh reads the stats once; calls while one is running share it.
function refresh() {
  if (!inFlight) {
    inFlight = get(ev(eventId) + "/stats")
      .then((r) => { stats = r.stats; render(); notice(message, ""); })
      .catch((err) => failure(message, err))
      .finally(() => { inFlight = null; });
  }
  return inFlight;
}

function refreshSoon() {
  if (soon) return;
  soon = setTimeout(() => { soon = null; refresh(); }, 200);
}

async function change(body, button) {
  notice(knobMessage, "");
  try {
    ({ event } = await patchEvent(eventId, body, { key: newKey() }));
    fillKnobs();
    await refresh();
    return true;
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    const input = err.details.field && $("form[data-knobs]").elements[err.details.field];
    if (input) {
      input.setAttribute("aria-invalid", "true");
      const text = err.message.startsWith(err.details.field + " ") ? err.message.slice(err.details.field.length + 1) : err.message;
      notice(knobMessage, `${$(`label[for="${input.id}"]`).textContent}: ${text}`);
      input.focus();
    } else {
      notice(knobMessage, err.message);
      if (button) button.focus();
    }
    return false;
  }
}

function fillKnobs() {
  const form = $("form[data-knobs]");
  form.elements.max_active_shoppers.value = event.max_active_shoppers;
  form.elements.admission_rate.value = event.admission_rate;
}

function wire() {
  const pause = $("[data-pause]");
  pause.addEventListener("click", () => busy(pause, async () => {
    const paused = !event.paused;
    if (await change({ paused }, pause)) {
      announce(paused ? "Admissions paused." : "Admissions resumed.");
      notice(knobMessage, paused ? "Admissions paused: nobody new is let in until you resume." : "Admissions resumed.", "ok");
    }
  }).catch((err) => failure(knobMessage, err))
    // busy disables the button while the request runs, which takes the focus
    // away: give it back, so a keyboard can resume as it paused.
    .finally(() => pause.focus()));
  const form = $("form[data-knobs]");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy($("[data-apply]"), async () => {
      for (const el of $$("[aria-invalid]", form)) el.removeAttribute("aria-invalid");
      const body = {};
      for (const k of ["max_active_shoppers", "admission_rate"]) {
        const v = form.elements[k].value.trim();
        if (v !== "" && Number(v) !== event[k]) body[k] = Number(v);
      }
      if (!Object.keys(body).length) return notice(knobMessage, "Nothing changed.", "info");
      if (await change(body)) notice(knobMessage, "Applied. Every replica admits by the new numbers within a few seconds.", "ok");
    }).catch((err) => failure(knobMessage, err));
  });
}

try {
  if (await organizerOnly($("[data-gate]"))) {
    ({ event } = await get(ev(eventId)));
    document.title = `Dashboard of ${event.name} · Boxoffice`;
    $("[data-name]").textContent = event.name;
    $("[data-when]").textContent = [event.venue, `sale opens ${dateTime(event.sale_opens_at)}`,
      `show ${dateTime(event.starts_at)}`].filter(Boolean).join(" · ");
    $("[data-edit]").href = editUrl(eventId);
    $("[data-public]").href = pageOf(eventId);
    fillKnobs();
    wire();
    $("[data-dashboard]").hidden = false;
    await refresh();
    setInterval(() => { if (!document.hidden) refresh(); }, pollEvery);
    const conn = $("[data-conn]");
    live(eventId, {
      onMessage: (msg) => { if (msg.type === "availability.update" || msg.type === "sale.update") refreshSoon(); },
      onState: (s) => {
        conn.dataset.liveState = s;
        conn.textContent = s === "live"
          ? "Live: sales show at once; everything else refreshes every 2 seconds."
          : "Reconnecting to live updates… the numbers still refresh every 2 seconds.";
      },
    });
  }
} catch (err) {
  $("[data-dashboard]").hidden = false;
  if (err instanceof ApiError && err.status === 404) notice(message, "There is no such event.");
  else failure(message, err);
}

// The event form: create an event with its zones (POST /events), or change an
// existing event's times and caps (PATCH /events/{id}; zones cannot change once
// tickets exist). The server validates; each error it names by field is shown
// beside that field, and focus goes there.
import { ApiError, ev, get, newKey, post } from "../api.js";
import { dashboardUrl, organizerOnly, patchEvent } from "../organizer.js";
import { $, $$, busy, failure, fill, h, money, notice } from "../ui.js";

const form = $("form[data-event-form]");
const message = $("[data-message]");
const zonesBox = $("[data-zones]");
const editing = (location.pathname.match(/^\/organizer\/events\/([^/]+)\/edit$/) || [])[1];
const editId = editing ? decodeURIComponent(editing) : "";
const times = ["lobby_opens_at", "sale_opens_at", "starts_at"];
const numbers = ["max_tickets_per_user", "max_active_shoppers", "admission_rate", "hold_seconds",
  "claim_seconds", "presence_seconds", "payment_grace_seconds"];
let initial = {}; // the edited event's values as the inputs show them
let key = newKey(); // one Idempotency-Key per filled-in form: a double submit is one write
let zoneSeq = 0;

// datetime-local inputs speak local time without a zone; the API speaks UTC.
const pad = (n) => String(n).padStart(2, "0");
function localInput(iso) {
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function zoneFields(z = {}) {
  const n = ++zoneSeq;
  const fid = (k) => `z${n}-${k}`;
  const input = (k, label, attrs = {}, hint) => h("div", { class: "field", "data-key": k },
    h("label", { for: fid(k) }, label),
    h("input", { id: fid(k), "data-key": k, autocomplete: "off", ...(hint ? { "aria-describedby": fid(k) + "-hint" } : {}), ...attrs }),
    hint ? h("p", { class: "hint", id: fid(k) + "-hint" }, hint) : null);
  const kind = h("select", { id: fid("kind"), "data-key": "kind" },
    h("option", { value: "pool" }, "General admission (a pool)"),
    h("option", { value: "seated" }, "Assigned seats (rows)"));
  kind.value = z.kind || "pool";
  const legend = h("legend", {}, `Zone ${$$("[data-zone]", zonesBox).length + 1}`);
  const remove = h("button", { type: "button", class: "secondary" }, "Remove this zone");
  const box = h("fieldset", { class: "zone-fields", "data-zone": "" }, legend,
    h("div", { class: "caps" },
      input("id", "Zone id", { value: z.id || "", spellcheck: "false" }, "Such as GA or VIP."),
      input("name", "Zone name", { value: z.name || "" }),
      h("div", { class: "field", "data-key": "kind" }, h("label", { for: fid("kind") }, "Kind"), kind),
      input("price", "Price per ticket", { inputmode: "decimal", value: z.price || "" }, "Such as 49.50."),
      input("capacity", "Tickets", { type: "number", min: "1", inputmode: "numeric", value: z.capacity || "" }),
      input("rows", "Rows", { type: "number", min: "1", inputmode: "numeric", value: z.rows || "" }, "Named 1, 2, 3… from the stage."),
      input("seats", "Seats per row", { type: "number", min: "1", inputmode: "numeric", value: z.seats || "" })),
    h("p", {}, remove));
  const shape = () => {
    const seated = kind.value === "seated";
    $(`[data-key="capacity"]`, box).hidden = seated;
    $(`.field[data-key="rows"]`, box).hidden = !seated;
    $(`.field[data-key="seats"]`, box).hidden = !seated;
  };
  kind.addEventListener("change", shape);
  remove.addEventListener("click", () => {
    const next = box.nextElementSibling || box.previousElementSibling;
    box.remove();
    renumber();
    $("input", next || form).focus();
  });
  shape();
  return box;
}

function renumber() {
  const zones = $$("[data-zone]", zonesBox);
  zones.forEach((z, i) => {
    $("legend", z).textContent = `Zone ${i + 1}`;
    $("button", z).hidden = zones.length === 1;
  });
}

function addZone(z) {
  zonesBox.append(zoneFields(z));
  renumber();
}

// zoneBody reads one zone's fields; a price that is not money is the one
// thing checked here, since the API takes cents and the form asks for units.
function zoneBody(box) {
  const val = (k) => $(`input[data-key="${k}"]`, box).value.trim();
  const z = { id: val("id"), name: val("name"), kind: $("select", box).value };
  const price = val("price");
  if (!/^\d+([.,]\d{1,2})?$/.test(price)) {
    throw fieldProblem($(`input[data-key="price"]`, box), "Enter a price such as 25 or 49.50.");
  }
  z.price_cents = Math.round(Number(price.replace(",", ".")) * 100);
  const int = (k) => (val(k) === "" ? undefined : Number(val(k)));
  if (z.kind === "pool") z.capacity = int("capacity");
  else {
    const rows = int("rows") || 0, seats = int("seats");
    z.rows = Array.from({ length: Math.min(rows, 1000) }, (_, i) => ({ row: String(i + 1), seats }));
  }
  return z;
}

class Problem extends Error {
  constructor(input, text) { super(text); this.input = input; }
}
const fieldProblem = (input, text) => new Problem(input, text);

function body() {
  const b = {};
  for (const el of form.elements) {
    if (!el.name || el.closest("[hidden]")) continue;
    const v = el.value.trim();
    if (editId && v === (initial[el.name] ?? "")) continue; // a PATCH sends what changed
    if (v === "") continue;
    if (times.includes(el.name)) {
      const t = new Date(v);
      if (Number.isNaN(t.getTime())) throw fieldProblem(el, "Enter a date and time.");
      b[el.name] = t.toISOString();
    } else if (numbers.includes(el.name)) b[el.name] = Number(v);
    else b[el.name] = v;
  }
  if (!editId) b.zones = $$("[data-zone]", zonesBox).map(zoneBody);
  return b;
}

// inputFor finds the input an error's details.field names: "sale_opens_at",
// "zones[1].price_cents", "zones[0].rows[2].seats"…
function inputFor(field) {
  if (!field) return null;
  const m = field.match(/^zones\[(\d+)\]\.?([a-z_]*)(\[\d+\]\.([a-z_]+))?/);
  if (m) {
    const box = $$("[data-zone]", zonesBox)[Number(m[1])];
    if (!box) return null;
    const k = { price_cents: "price", rows: m[4] === "seats" ? "seats" : "rows" }[m[2]] || m[2];
    return $(`[data-key="${k}"]:is(input, select)`, box) || $("input", box);
  }
  return form.elements[field] || null;
}

function clearErrors() {
  for (const el of $$(".field-error", form)) el.remove();
  for (const input of $$("[aria-invalid]", form)) {
    input.removeAttribute("aria-invalid");
    const ids = (input.getAttribute("aria-describedby") || "").split(" ").filter((id) => id && !id.endsWith("-error"));
    if (ids.length) input.setAttribute("aria-describedby", ids.join(" "));
    else input.removeAttribute("aria-describedby");
  }
  notice(message, "");
  notice($("[data-zones-message]"), "");
}

function showFieldError(input, text) {
  const id = input.id + "-error";
  const label = $(`label[for="${input.id}"]`).textContent;
  input.closest(".field").append(h("p", { class: "field-error", id }, `${label}: ${text}`));
  input.setAttribute("aria-invalid", "true");
  input.setAttribute("aria-describedby", [input.getAttribute("aria-describedby"), id].filter(Boolean).join(" "));
  input.focus();
}

// explain turns the server's message into words beside the field: the message
// starts with the field's API name, which the label already says.
function explain(err) {
  const field = err.details.field || "";
  let text = err.message;
  if (field && text.startsWith(field + " ")) text = text.slice(field.length + 1);
  return text.replace(/_/g, " ");
}

async function submit() {
  clearErrors();
  let b;
  try {
    b = body();
  } catch (err) {
    if (err instanceof Problem) return showFieldError(err.input, err.message);
    throw err;
  }
  try {
    if (editId) {
      if (Object.keys(b).length === 0) return notice(message, "Nothing changed.", "info");
      const { event } = await patchEvent(editId, b, { key });
      key = newKey();
      show(event);
      notice(message, "Saved. Every replica uses the new settings within a few seconds.", "ok");
      message.focus();
    } else {
      const { event } = await post("/events", b, { key });
      location.assign(dashboardUrl(event.id));
    }
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    key = newKey();
    const field = err.details && err.details.field;
    const input = inputFor(field);
    if (input) showFieldError(input, explain(err));
    else if (field === "zones") notice($("[data-zones-message]"), explain(err));
    else notice(message, err.message);
    if (!input) message.focus();
  }
}

// show puts an existing event into the form: its settings to change, its
// zones to read.
function show(event) {
  initial = {};
  for (const el of form.elements) {
    if (!el.name || !(el.name in event)) continue;
    el.value = times.includes(el.name) ? localInput(event[el.name]) : String(event[el.name]);
    initial[el.name] = el.value;
  }
  fill(zonesBox, h("table", {},
    h("caption", { class: "visually-hidden" }, "Zones (they cannot change once tickets exist)"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Zone"), h("th", { scope: "col" }, "Kind"),
      h("th", { scope: "col", class: "num" }, "Price"), h("th", { scope: "col", class: "num" }, "Tickets"))),
    h("tbody", {}, event.zones.map((z) => h("tr", {},
      h("th", { scope: "row" }, `${z.name} (${z.id})`),
      h("td", {}, z.kind === "seated" ? `${z.rows.length} rows of seats` : "General admission"),
      h("td", { class: "num" }, money(z.price_cents, event.currency)),
      h("td", { class: "num" }, z.capacity.toLocaleString()))))),
  h("p", { class: "hint" }, "Zones cannot change once tickets exist: create a new event for another layout."));
}

try {
  if (await organizerOnly($("[data-gate]"))) {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone) $("[data-zone-hint]").textContent = `Times are in your time zone (${zone}).`;
    form.addEventListener("input", () => { key = newKey(); });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      busy($("[data-submit]"), () => submit().catch((err) => failure(message, err)));
    });
    message.tabIndex = -1;
    if (editId) {
      const { event } = await get(ev(editId));
      document.title = `Settings of ${event.name} · Boxoffice`;
      $("[data-form-title]").textContent = `Settings of ${event.name}`;
      $("[data-submit]").textContent = "Save changes";
      for (const el of $$("[data-new-only]", form)) el.hidden = true;
      const dash = $("[data-dashboard]");
      dash.href = dashboardUrl(editId);
      dash.hidden = false;
      show(event);
    } else {
      $("[data-add-zone]").addEventListener("click", () => {
        addZone();
        $("input", zonesBox.lastElementChild).focus();
      });
      addZone({ id: "GA", name: "General Admission" });
    }
    form.hidden = false;
  }
} catch (err) {
  form.hidden = false;
  if (err instanceof ApiError && err.status === 404) notice(message, "There is no such event.");
  else failure(message, err);
}

// The waiting room: the lobby's countdown before the opening, then the fan's
// live place in line, until it is their turn to shop. A refresh asks for the
// place the fan has (joining only a fan who has none), so it never costs one.
import { ApiError, ev, get, newKey, post, sleep } from "../api.js";
import { live } from "../live.js";
import { $, $$, announce, countdown, eventId, failure, milestones, needSignIn, notice, pageOf, plural, renderAccount, spoken } from "../ui.js";

const id = eventId();
const message = $("[data-message]");
const startKey = `boxoffice.line.${id}.start`;
let place = {};
let lobbyTimer = null;
let spokenAt = 0;
let spokenPosition = null;
let leaving = false;
let panel = null; // the panel shown

renderAccount();
$("[data-audit]").href = `/api/v1${ev(id)}/queue/audit`;
$("[data-shop]").href = pageOf(id, "shop");

function show(which) {
  panel = which;
  $("[data-loading]").hidden = true;
  for (const el of $$("[data-panel]")) el.hidden = el.dataset.panel !== which;
  $("[data-keep]").hidden = which === "gone" || which === "admitted";
}

const outlooks = {
  good: ["ok", "Tickets should still be on sale when your turn comes."],
  uncertain: ["warn", "Tickets are running low: they may be gone by your turn. Keep your place; some may come back."],
  unlikely: ["warn", "Tickets will probably sell out before your turn. Keep your place in case held tickets come back on sale."],
};

function render() {
  if (place.session || place.status === "admitted") return admitted();
  if (place.status === "lobby") return lobby();
  show("waiting");
  const pos = place.position;
  if (typeof pos === "number") {
    $("[data-position]").textContent = pos.toLocaleString();
    const ahead = typeof place.ahead === "number" ? place.ahead : pos - 1;
    $("[data-ahead]").textContent = ahead === 0 ? "You are next." : `${plural(ahead, "person", "people")} ahead of you.`;
    const start = Math.max(Number(sessionStorage.getItem(startKey)) || 0, pos);
    sessionStorage.setItem(startKey, String(start));
    $("[data-progress]").value = start > 1 ? Math.round(((start - pos) / (start - 1)) * 100) : 100;
    speakPosition(pos);
  }
  const eta = place.eta_seconds;
  $("[data-eta]").textContent = eta === null || eta === undefined ? "Working out how long the wait is…"
    : eta < 5 ? "Estimated wait: any moment now." : `Estimated wait: about ${spoken(eta * 1000)}.`;
  const box = $("[data-outlook]");
  if (place.status === "sold_out") notice(box, "Sold out for now: every ticket is sold or held. Keep your place: held tickets that are not bought come back on sale, and the line moves again.", "warn");
  else if (outlooks[place.outlook]) notice(box, outlooks[place.outlook][1], outlooks[place.outlook][0]);
  else notice(box, "");
  if (typeof place.tickets_left === "number") $("[data-left]").textContent = `${place.tickets_left.toLocaleString()} tickets left.`;
}

// speakPosition reads place changes aloud, at most every 10 seconds: a change
// inside that window is said when it ends, if it is still the news.
let speakTimer = null;
function speakPosition(pos) {
  clearTimeout(speakTimer);
  if (pos === spokenPosition) return;
  const wait = spokenPosition === null ? 0 : spokenAt + 10000 - Date.now();
  if (wait > 0) {
    speakTimer = setTimeout(() => speakPosition(pos), wait);
    return;
  }
  spokenAt = Date.now();
  spokenPosition = pos;
  announce(pos === 1 ? "You are next in line." : `You are number ${pos.toLocaleString()} in line.`);
}

function lobby() {
  show("lobby");
  $("[data-join-id]").textContent = place.join_id || "";
  const size = $("[data-lobby-size]");
  if (typeof place.lobby_size === "number") {
    size.hidden = false;
    size.textContent = `${plural(place.lobby_size, "fan")} in the lobby.`;
  }
  if (lobbyTimer) return;
  lobbyTimer = countdown($("[data-lobby-clock]"), Date.parse(place.opens_at), {
    speak: milestones("The sale opens in"),
    onDone: opening,
  });
}

// opening waits for the live feed to bring the new place; if it has not within
// a few seconds (spread out, so a crowd does not ask at once), it asks itself.
async function opening() {
  announce("The sale is open. Everyone in the lobby is getting a random place.");
  $("[data-lobby-clock]").textContent = "Opening…";
  for (let wait = 2000; place.status === "lobby" && !leaving; wait = Math.min(wait * 2, 15000)) {
    await sleep(wait + Math.random() * 3000);
    if (place.status !== "lobby") break;
    await refresh();
  }
}

async function refresh() {
  try {
    update(await get(`${ev(id)}/queue`));
  } catch (err) {
    lost(err);
  }
}

function update(p) {
  if (p.join_id && p.join_id !== place.join_id) counter = 0; // a new place: the line may have begun again
  place = { ...place, ...p };
  render();
}

function admitted() {
  if (leaving) return;
  leaving = true;
  show("admitted");
  announce("It's your turn. Taking you to the tickets.", true);
  location.replace(pageOf(id, "shop"));
}

function lost(err) {
  if (needSignIn(err)) return;
  if (err instanceof ApiError && (err.code === "place_lost" || err.code === "not_in_line")) {
    show("gone");
    $("[data-gone-text]").textContent = err.code === "place_lost"
      ? "You no longer have a place in this line: you left it, were away too long, or your shopping time ended. You can join again at the back."
      : "You are not in this line. Join it to get a place.";
    return;
  }
  failure(message, err);
}

async function join() {
  try {
    update(await post(`${ev(id)}/queue`, undefined, { key: newKey() }));
    sessionStorage.removeItem(startKey);
    return true;
  } catch (err) {
    if (err instanceof ApiError && err.code === "line_closed") {
      notice(message, "The line is not open: the lobby has not opened yet, or the sale is over.");
      show("gone");
      return false;
    }
    lost(err);
    return false;
  }
}

function onLive(msg) {
  switch (msg.type) {
    case "queue.update":
      update(msg);
      break;
    case "session.admitted":
      place.session = { id: msg.session_id, expires_at: msg.expires_at };
      admitted();
      break;
    case "session.expired":
      refresh();
      break;
    case "sale.update":
      if (msg.sale_status === "closed") notice(message, "The sale is over.", "warn");
      break;
  }
}

$("[data-rejoin]").addEventListener("click", async (e) => {
  const button = e.currentTarget;
  button.disabled = true;
  if (await join()) connect();
  button.disabled = false;
});

// Without a live connection (every replica's live sockets are taken, or the
// network is down) the page does two things until the socket is back:
//  - it asks for the place itself now and then, so the fan keeps it: a status
//    call is a sign of life, and a fan with neither for presence_seconds loses
//    the place. The pace is a third of that window, jittered so a crowd does
//    not ask at once, and at most half of claim_seconds, so that should the
//    public reading fail the turn is still claimed in time (but never more
//    often than every second); api.js waits out any Retry-After;
//  - every 2–3 s it follows the place from GET …/queue/now: one reading for
//    every fan (nginx or a CDN may answer it from a cache), which with the
//    fan's number gives what a live queue.update would. When the counter
//    reaches the number it is the fan's turn, and the page asks for its place
//    at once: that claims the admission, which otherwise goes to the next fan
//    after claim_seconds.
// Neither asks anything once the fan is on the way to the shop or has no
// place; joining again brings them back to work.
let presence = 300;
let claim = 120;
let counter = 0; // the highest admission counter read: a cached reading may be older than the last
let stopOffline = null;
function pollWhileOffline(s) {
  if (s === "live" || leaving) {
    if (stopOffline) stopOffline();
    stopOffline = null;
    return;
  }
  if (stopOffline) return;
  let asked = false;
  const idle = () => leaving || panel === "gone";
  const stops = [
    repeat(() => Math.max(1, Math.min(presence / 3, claim / 2)) * (0.75 + Math.random() / 2) * 1000, async () => {
      if (!idle()) await refresh();
    }),
    repeat(() => (2 + Math.random()) * 1000, async (stopped) => {
      if (idle()) return;
      if (typeof place.number !== "number" && typeof place.position === "number" && !asked) {
        asked = true; // numbered by the live feed at the opening: the number comes with the place
        await refresh();
      }
      if (typeof place.number !== "number") return;
      let now;
      try {
        now = await get(`${ev(id)}/queue/now`, { anonymous: true });
      } catch {
        return; // the own status calls go on; the next reading may come through
      }
      if (stopped()) return; // live again meanwhile: the socket's news is newer
      counter = Math.max(counter, now.admitted);
      if (counter >= place.number) await refresh();
      else update(standing(place.number, { ...now, admitted: counter }));
    }),
  ];
  stopOffline = () => stops.forEach((stop) => stop());
}

// repeat runs task every delay() ms, the first time after one delay, until
// the returned function stops it; task gets a function telling whether it
// was stopped meanwhile.
function repeat(delay, task) {
  let timer = null;
  let stopped = false;
  const run = async () => {
    await task(() => stopped);
    if (!stopped) timer = setTimeout(run, delay());
  };
  timer = setTimeout(run, delay());
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

// standing is what a live queue.update would say to the fan numbered number:
// the server's arithmetic (GET …/queue/now in the API reference). No outlook
// positions means sold out.
function standing(number, now) {
  const position = Math.max(number - now.admitted, 1);
  const ahead = position - 1;
  const soldOut = now.good_until === null;
  let outlook = "uncertain";
  if (soldOut || position >= now.unlikely_from) outlook = "unlikely";
  else if (position <= now.good_until) outlook = "good";
  return {
    status: soldOut ? "sold_out" : "waiting", position, ahead, outlook, tickets_left: now.tickets_left,
    eta_seconds: now.eta_rate > 0 ? Math.min(Math.ceil(ahead / now.eta_rate), 2 ** 40) : null,
  };
}

let conn = null;
function connect() {
  if (conn) return;
  const state = $("[data-conn]");
  conn = live(id, {
    onMessage: onLive,
    onState: (s) => {
      // Back after a drop: the place may have changed meanwhile, or be gone
      // with the line (the server drops every socket when Redis lost its data).
      if (s === "live" && state.dataset.liveState === "reconnecting") refresh();
      pollWhileOffline(s);
      state.dataset.liveState = s;
      state.textContent = s === "live" ? "Live: your place updates by itself." : "Reconnecting… you keep your place.";
    },
  });
}

try {
  const [{ event }, p] = await Promise.all([
    get(ev(id)),
    get(`${ev(id)}/queue`).catch((err) => err),
  ]);
  $("[data-event-name]").textContent = event.name;
  if (event.presence_seconds > 0) presence = event.presence_seconds;
  if (event.claim_seconds > 0) claim = event.claim_seconds;
  document.title = `Waiting room: ${event.name} · Boxoffice`;
  if (!(p instanceof Error)) {
    update(p);
    connect();
  } else if (p instanceof ApiError && p.code === "not_in_line") {
    if (await join()) connect();
  } else {
    lost(p);
  }
} catch (err) {
  if (!needSignIn(err)) failure(message, err);
  $("[data-loading]").hidden = true;
}

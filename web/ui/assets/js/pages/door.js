// The door: an organizer scans (camera, where the browser has BarcodeDetector)
// or types each ticket's code, and sees at once whether to let the fan in.
import { ApiError, ev, get, newKey, post } from "../api.js";
import { $, eventId, failure, fill, h, me, needSignIn, notice, renderAccount, timeOfDay } from "../ui.js";

const id = eventId();
const message = $("[data-message]");
const result = $("[data-result]");
const form = $("[data-form]");
const input = $("[data-code]");
const submit = $("[data-submit]");
const count = $("[data-count]");
let admitted = 0;

const reasons = {
  unknown: "Unknown or altered code.",
  other_event: "This ticket is for another event.",
  cancelled: "This booking was cancelled.",
};

function ticketLine(t) {
  return [t.zone_id, t.seat_id ? `seat ${t.seat_id}` : `ticket ${t.id}`, t.holder_name].filter(Boolean).join(" · ");
}

// show replaces the answer; the region is aria-live, so it is read out at once.
function show(state, verdict, detail) {
  result.dataset.state = state;
  fill(result, h("p", { class: "door-verdict" }, verdict), detail ? h("p", { class: "door-detail" }, detail) : null);
}

function showCheckin(c) {
  if (c.result === "valid") {
    admitted++;
    count.textContent = String(admitted);
    show("valid", "Valid: let in", ticketLine(c.ticket));
  } else if (c.result === "already_checked_in") {
    show("already", `Already checked in at ${timeOfDay(c.checked_in_at)}`, ticketLine(c.ticket));
  } else {
    show("invalid", "Not valid", reasons[c.reason] || "Do not let in.");
  }
}

let inFlight = false;
async function checkIn(code) {
  if (inFlight) return false;
  inFlight = true;
  submit.disabled = true;
  show("checking", "Checking…", code);
  try {
    const { checkin } = await post(`${ev(id)}/checkins`, { code }, { key: newKey() });
    showCheckin(checkin);
  } catch (err) {
    if (needSignIn(err)) return;
    if (err instanceof ApiError && err.status === 422) show("invalid", "Not valid", "Type or scan a ticket code.");
    else show("error", "Not checked", err instanceof ApiError ? err.message : "Something went wrong. Try again.");
  } finally {
    inFlight = false;
    submit.disabled = false;
  }
  return true;
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const code = input.value.trim();
  if (!code) {
    show("invalid", "No code", "Type or scan a ticket code.");
    input.focus();
    return;
  }
  if (!(await checkIn(code))) return;
  // Ready for the next ticket at once.
  input.value = "";
  input.focus();
});

// The camera: BarcodeDetector reads QR codes from the video a few times a
// second. The same code seen again within a few seconds is the same scan.
function camera() {
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices) return;
  $("[data-scanner]").hidden = false;
  const button = $("[data-camera]");
  const video = $("[data-video]");
  let stream = null, timer = null, last = "", lastAt = 0;
  const stop = () => {
    clearInterval(timer);
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    video.hidden = true;
    button.textContent = "Scan with the camera";
    button.setAttribute("aria-pressed", "false");
  };
  button.addEventListener("click", async () => {
    if (stream) return stop();
    try {
      const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
      video.srcObject = stream;
      video.hidden = false;
      await video.play();
      button.textContent = "Stop the camera";
      button.setAttribute("aria-pressed", "true");
      timer = setInterval(async () => {
        if (inFlight || video.readyState < 2) return;
        const codes = await detector.detect(video).catch(() => []);
        const code = codes.length ? codes[0].rawValue : "";
        if (!code || (code === last && Date.now() - lastAt < 4000)) return;
        last = code;
        lastAt = Date.now();
        checkIn(code);
      }, 250);
    } catch {
      stop();
      notice(message, "The camera could not be started. Allow it in the browser, or type the codes.", "warn");
    }
  });
}

try {
  const user = await me();
  renderAccount(user);
  if (!user) {
    needSignIn(new ApiError(401, null));
  } else if (user.role !== "organizer") {
    notice(message, "Only organizers can check tickets in. Sign in with an organizer account.");
  } else {
    const { event } = await get(ev(id));
    $("[data-title]").textContent = `Door check-in: ${event.name}`;
    document.title = `Door: ${event.name} · Boxoffice`;
    $("[data-door]").hidden = false;
    camera();
    input.focus();
  }
} catch (err) {
  if (!needSignIn(err)) failure(message, err);
}

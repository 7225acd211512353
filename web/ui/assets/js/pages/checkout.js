// Checkout: one payment for everything the fan holds in the event, with the
// test provider's card form, or Stripe's Payment Element when the server
// runs with PAYMENTS_PROVIDER=stripe (its answer then carries publishable_key).
import { ApiError, ev, get, newKey, post } from "../api.js";
import { $, announce, busy, countdown, eventId, failure, fill, h, milestones, money, needSignIn, notice, pageOf, renderAccount } from "../ui.js";
import { holdLine } from "../order.js";

const id = eventId();
const message = $("[data-message]");
const payMessage = $("[data-pay-message]");
const form = $("[data-card-form]");
const card = $("#card");
let event = null;
let payment = null;
let over = false;
let timer = null;

renderAccount();
$("[data-shop]").href = pageOf(id, "shop");
$("[data-line]").href = pageOf(id, "line");

const confirmation = (param, value) => `${pageOf(id, "confirmation")}?${param}=${encodeURIComponent(value)}`;

// startPayment asks for one payment covering every hold of the fan's in the event.
async function startPayment() {
  const answer = await post("/payments", { event_id: id }, { key: newKey() });
  payment = answer.payment;
  return answer;
}

function renderSummary(holds) {
  const paid = holds.filter((x) => payment.reservation_ids.includes(x.id));
  fill($("[data-lines]"), paid.map((x) => h("tr", {}, h("td", {}, holdLine(x, event)), h("td", { class: "num" }, money(x.amount_cents, x.currency)))));
  $("[data-total]").textContent = money(payment.amount_cents, payment.currency);
  $("[data-pay]").textContent = `Pay ${money(payment.amount_cents, payment.currency)}`;
  $("[data-stripe-pay]").textContent = `Pay ${money(payment.amount_cents, payment.currency)}`;
}

function holdRanOut() {
  if (over) return;
  over = true;
  if (timer) timer.stop();
  $("[data-session-clock]").textContent = "0:00";
  $("[data-timer-bar]").classList.add("low");
  $("[data-pay-section]").hidden = true;
  $("[data-expired]").hidden = false;
  notice(message, "Your hold ran out: the tickets went back on sale and nothing was charged.");
  announce("Your hold ran out. The tickets went back on sale and nothing was charged.", true);
}

function booked(p) {
  over = true;
  announce("Payment accepted. Your tickets are booked.", true);
  location.assign(p.booking_id ? confirmation("booking", p.booking_id) : confirmation("payment", p.id));
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  busy($("[data-pay]"), async () => {
    if (over) return;
    notice(payMessage, "");
    card.removeAttribute("aria-invalid");
    const number = card.value.replace(/[\s-]/g, "");
    if (!/^\d{12,19}$/.test(number)) {
      card.setAttribute("aria-invalid", "true");
      notice(payMessage, "Enter the card number: 12 to 19 digits.");
      card.focus();
      return;
    }
    try {
      if (!payment) renderSummary(await startPayment().then(() => currentHolds()));
      const { payment: p } = await post(`/payments/${encodeURIComponent(payment.id)}/confirm`, { card_number: number }, { key: newKey() });
      booked(p);
    } catch (err) {
      if (needSignIn(err)) return;
      if (!(err instanceof ApiError)) throw err;
      switch (err.code) {
        case "card_declined":
          payment = null; // a declined payment is over; the next try starts a new one
          card.setAttribute("aria-invalid", "true");
          notice(payMessage, "Your card was declined, and nothing was charged. Try another card.");
          card.focus();
          break;
        case "reservation_expired":
        case "session_expired":
          holdRanOut();
          break;
        case "not_confirmable":
          payment = null;
          notice(payMessage, "That payment can no longer be used. Press Pay again to start a new one.");
          break;
        default:
          notice(payMessage, err.message);
      }
    }
  });
});

const loadScript = (src) => new Promise((resolve, reject) => {
  const s = h("script", { src });
  s.onload = resolve;
  s.onerror = () => reject(new Error("Stripe could not be loaded"));
  document.head.append(s);
});

// stripeCheckout mounts Stripe's Payment Element; Stripe's webhook books the
// tickets, and the confirmation page waits for that booking.
async function stripeCheckout(publishableKey, clientSecret) {
  await loadScript("https://js.stripe.com/v3/");
  const stripe = window.Stripe(publishableKey);
  const elements = stripe.elements({ clientSecret });
  elements.create("payment").mount("[data-stripe-element]");
  const stripeForm = $("[data-stripe-form]");
  stripeForm.hidden = false;
  stripeForm.addEventListener("submit", (e) => {
    e.preventDefault();
    busy($("[data-stripe-pay]"), async () => {
      if (over) return;
      const { error } = await stripe.confirmPayment({
        elements, redirect: "if_required",
        confirmParams: { return_url: location.origin + confirmation("payment", payment.id) },
      });
      if (error) notice(payMessage, error.message || "The payment did not go through. Try again.");
      else booked(payment);
    });
  });
}

async function currentHolds() {
  const { reservations } = await get("/me/reservations");
  return reservations.filter((x) => x.event_id === id && x.status === "ACTIVE");
}

try {
  const [evAnswer, place, holds] = await Promise.all([
    get(ev(id)), get(`${ev(id)}/queue`).catch((err) => err), currentHolds(),
  ]);
  event = evAnswer.event;
  $("[data-event-name]").textContent = event.name;
  document.title = `Checkout: ${event.name} · Boxoffice`;
  if (place instanceof ApiError && place.status === 401) throw place;
  if (!holds.length) {
    fill($("[data-lines]"), h("tr", {}, h("td", { colspan: 2 }, "You hold no tickets for this event.")));
    $("[data-pay-section]").hidden = true;
    $("[data-timer-bar]").hidden = true;
  } else {
    const ends = place.session ? Date.parse(place.session.expires_at) : Math.min(...holds.map((x) => Date.parse(x.expires_at)));
    timer = countdown($("[data-session-clock]"), ends, {
      speak: milestones("Time left to pay:"),
      onTick: (left) => $("[data-timer-bar]").classList.toggle("low", left < 60000),
      onDone: holdRanOut,
    });
    const answer = await startPayment();
    renderSummary(holds);
    if (answer.publishable_key && answer.payment.client_secret) await stripeCheckout(answer.publishable_key, answer.payment.client_secret);
    else form.hidden = false;
  }
} catch (err) {
  if (needSignIn(err)) {
    // on its way to sign in
  } else if (err instanceof ApiError && (err.code === "reservation_expired" || err.code === "session_expired")) {
    holdRanOut();
  } else {
    failure(message, err);
  }
}

// What every page shares: building DOM without innerHTML, formatting, the
// screen-reader announcer, the account menu, busy buttons and countdowns.
import { ApiError, get, post, serverNow } from "./api.js";

/** h builds an element: h("a", {href: "/"}, "text", child). Text is never parsed as HTML. */
export function h(tag, attrs, ...children) {
  const svg = ["svg", "g", "circle", "rect", "text", "path", "title"].includes(tag);
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.setAttribute("class", v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

/** fill replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

export function money(cents, currency = "usd") {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: currency.toUpperCase() }).format(cents / 100);
  } catch {
    return `${(cents / 100).toFixed(2)} ${currency.toUpperCase()}`;
  }
}

export function dateTime(iso) {
  return new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
}

export function timeOfDay(iso) {
  return new Intl.DateTimeFormat(undefined, { timeStyle: "medium" }).format(new Date(iso));
}

/** clock formats a duration as 9:05 or 1:02:03. */
export function clock(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return hh > 0 ? `${hh}:${pad(mm)}:${pad(ss)}` : `${mm}:${pad(ss)}`;
}

/** spoken says a duration in words, for announcements. */
export function spoken(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} second${s === 1 ? "" : "s"}`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} minute${m === 1 ? "" : "s"}`;
  const hrs = Math.floor(m / 60), rest = m % 60;
  return `${hrs} hour${hrs === 1 ? "" : "s"}${rest ? ` ${rest} minute${rest === 1 ? "" : "s"}` : ""}`;
}

export const plural = (n, one, many = one + "s") => `${n} ${n === 1 ? one : many}`;

/** announce tells screen readers something without moving focus. */
export function announce(text, assertive = false) {
  const el = document.getElementById(assertive ? "announce-assertive" : "announce-polite");
  if (!el) return;
  el.textContent = "";
  // A fresh text node in a later task is read even when the text repeats.
  setTimeout(() => { el.textContent = text; }, 50);
}

/** notice shows a message in a notice box; errors are also announced at once. */
export function notice(el, text, kind = "error") {
  el.className = `notice notice-${kind}`;
  el.setAttribute("role", kind === "error" ? "alert" : "status");
  el.textContent = text || "";
}

/**
 * busy runs an action once at a time: a second click while it runs does nothing,
 * so a double click never sends a second request.
 */
export async function busy(button, fn) {
  if (button.getAttribute("aria-busy") === "true") return;
  button.setAttribute("aria-busy", "true");
  button.disabled = true;
  try {
    return await fn();
  } finally {
    button.removeAttribute("aria-busy");
    button.disabled = false;
  }
}

/**
 * countdown updates el every second until target (a server time in ms), calls
 * onTick(msLeft) on each and onDone once at zero; announce(msLeft) decides what
 * to say aloud, so screen readers hear milestones rather than every second.
 */
export function countdown(el, target, { onTick, onDone, speak } = {}) {
  let spokenAt = null;
  let timer = null;
  const tick = () => {
    const left = target - serverNow();
    el.textContent = clock(left);
    if (onTick) onTick(left);
    if (speak) {
      const words = speak(left, spokenAt);
      if (words) { spokenAt = left; announce(words); }
    }
    if (left <= 0) {
      clearInterval(timer);
      if (onDone) onDone();
    }
  };
  timer = setInterval(tick, 1000);
  tick();
  return { stop: () => clearInterval(timer) };
}

/** milestones says a countdown aloud each minute, then at 30 and 10 seconds. */
export function milestones(label) {
  return (left, last) => {
    const s = Math.ceil(left / 1000);
    const marks = [600, 300, 120, 60, 30, 10];
    const due = marks.find((m) => s <= m && (last === null || Math.ceil(last / 1000) > m));
    if (last === null) return `${label} ${spoken(left)}.`;
    if (due !== undefined && s > 0) return `${label} ${spoken(s * 1000)}.`;
    return null;
  };
}

/** eventId is the {id} of /events/{id}/... . */
export function eventId() {
  const m = location.pathname.match(/^\/events\/([^/]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

export const pageOf = (id, page = "") => `/events/${encodeURIComponent(id)}${page ? "/" + page : ""}`;

/** signInUrl leads to sign-in and back here. */
export const signInUrl = (next = location.pathname + location.search) => "/signin?next=" + encodeURIComponent(next);

/** safeNext keeps a ?next= on this site. */
export function safeNext(raw, fallback = "/") {
  return raw && raw.startsWith("/") && !raw.startsWith("//") && !raw.startsWith("/\\") ? raw : fallback;
}

const accountKey = "boxoffice.account";

/** rememberAccount keeps the signed-in name for the menu (null forgets it). */
export function rememberAccount(user) {
  if (user) sessionStorage.setItem(accountKey, JSON.stringify({ name: user.name }));
  else sessionStorage.removeItem(accountKey);
}

/** me is the signed-in user, or null. */
export async function me() {
  try {
    const { user } = await get("/me");
    rememberAccount(user);
    return user;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      rememberAccount(null);
      return null;
    }
    throw err;
  }
}

/**
 * renderAccount fills the header's account menu. Pages that already know who
 * is signed in pass it; others ask the API once, or trust what this tab
 * remembered (a wrong guess is fixed by the page's own 401).
 */
export async function renderAccount(known) {
  const slot = $("[data-account]");
  if (!slot) return;
  let user = known;
  if (user === undefined) {
    const kept = sessionStorage.getItem(accountKey);
    user = kept ? JSON.parse(kept) : await me().catch(() => null);
  }
  if (!user) {
    fill(slot, h("a", { href: signInUrl() }, "Sign in"), h("a", { href: "/signup" }, "Sign up"));
    return;
  }
  const out = h("button", { type: "button", class: "secondary" }, "Sign out");
  out.addEventListener("click", () => busy(out, async () => {
    await post("/auth/logout").catch(() => {});
    rememberAccount(null);
    location.assign("/");
  }));
  fill(slot, h("span", {}, "Signed in as ", h("strong", {}, user.name)), out);
}

/** needSignIn sends a signed-out fan to sign in and back; true if it did. */
export function needSignIn(err) {
  if (err instanceof ApiError && err.status === 401) {
    rememberAccount(null);
    location.replace(signInUrl());
    return true;
  }
  return false;
}

/** failure puts an unexpected error on the page instead of the console. */
export function failure(el, err) {
  notice(el, err instanceof ApiError ? err.message : "Something went wrong. Reload the page to try again.");
}

// The JSON API as the pages use it. Every write carries an Idempotency-Key, and
// a retry after a lost answer, a 429 or a 503 reuses it, so nothing is done
// twice; the server's clock is learnt from its answers for the countdowns.

/** ApiError is an answer in the error envelope {"error": {code, message, details}}. */
export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `The server answered ${status}.`);
    this.status = status;
    this.code = e.code || (status ? `http_${status}` : "network");
    this.details = e.details || {};
  }
}

const maxTries = 5;
let skew = 0; // server clock minus this device's clock, in ms

/** serverNow is the server's time in ms, for countdowns that must agree with it. */
export const serverNow = () => Date.now() + skew;

// learnClock reads the Date header (whole seconds) and only corrects a clock
// that is clearly off, so countdowns do not jitter.
function learnClock(res, sentAt) {
  const date = Date.parse(res.headers.get("Date") || "");
  if (Number.isNaN(date)) return;
  const server = date + 500;
  const local = (sentAt + Date.now()) / 2;
  if (Math.abs(server - local - skew) > 1500) skew = server - local;
}

/** newKey makes a random Idempotency-Key (crypto.randomUUID needs HTTPS). */
export function newKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function retryDelay(res, attempt) {
  const after = Number(res && res.headers.get("Retry-After"));
  const base = after > 0 ? after * 1000 : 400 * 2 ** attempt;
  return Math.min(base, 15000) * (0.75 + Math.random() / 2);
}

/**
 * api calls /api/v1<path>. Writes send JSON and an Idempotency-Key (opts.key, or
 * a new one for this call that every retry of it reuses); opts.anonymous sends
 * no credentials. Throws ApiError.
 */
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: "application/json" };
  const write = method !== "GET" && method !== "HEAD";
  if (write) {
    headers["Content-Type"] = "application/json";
    headers["Idempotency-Key"] = opts.key || newKey();
  }
  // An anonymous read sends no cookie: it is the same for everyone, and a
  // cache in front (nginx, a CDN) may answer it.
  const init = { method, headers, credentials: opts.anonymous ? "omit" : "same-origin" };
  if (body !== undefined) init.body = JSON.stringify(body);
  for (let attempt = 1; ; attempt++) {
    const sentAt = Date.now();
    let res;
    try {
      res = await fetch("/api/v1" + path, init);
    } catch {
      if (attempt < maxTries) {
        await sleep(retryDelay(null, attempt));
        continue;
      }
      throw new ApiError(0, { error: { code: "network", message: "We could not reach Boxoffice. Check your connection and try again." } });
    }
    learnClock(res, sentAt);
    const data = res.status === 204 ? null : await res.json().catch(() => null);
    if (res.ok) return data;
    const code = data && data.error && data.error.code;
    const busy = res.status === 429 || res.status === 503 || code === "idempotency_key_in_flight";
    if (busy && attempt < maxTries) {
      await sleep(retryDelay(res, attempt));
      continue;
    }
    throw new ApiError(res.status, data);
  }
}

export const get = (path, opts) => api("GET", path, undefined, opts);
export const post = (path, body, opts) => api("POST", path, body, opts);
export const del = (path, opts) => api("DELETE", path, undefined, opts);

/** ev is the API path of an event. */
export const ev = (id) => "/events/" + encodeURIComponent(id);

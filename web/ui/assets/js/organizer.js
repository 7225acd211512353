// What the organizer pages share: who may use them, and PATCH of an event.
import { api, ev } from "./api.js";
import { fill, h, me, renderAccount, signInUrl } from "./ui.js";

/**
 * organizerOnly returns the signed-in organizer, or null after telling a fan or
 * a visitor, in place of the page (gate), to sign in as an organizer. The API
 * refuses them anyway (401, 403); this only saves them a broken page.
 */
export async function organizerOnly(gate) {
  const user = await me();
  renderAccount(user);
  if (user && user.role === "organizer") return user;
  fill(gate,
    h("h1", {}, "Organizers only"),
    h("p", {}, user
      ? `You are signed in as ${user.name}, a fan. This page is for event organizers: sign out, then sign in with an organizer account.`
      : "This page is for event organizers. Sign in with an organizer account to use it."),
    user ? null : h("p", {}, h("a", { class: "button", href: signInUrl() }, "Sign in as an organizer")));
  gate.hidden = false;
  return null;
}

/** patchEvent changes an event's settings; opts.key makes a retry the same write. */
export const patchEvent = (id, body, opts) => api("PATCH", ev(id), body, opts);

/** Organizer page URLs. */
export const dashboardUrl = (id) => `/events/${encodeURIComponent(id)}/dashboard`;
export const editUrl = (id) => `/organizer/events/${encodeURIComponent(id)}/edit`;

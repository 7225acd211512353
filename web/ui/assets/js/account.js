// The sign-in and sign-up forms: the API sets the HttpOnly sign-in cookie, so
// the pages never hold the token themselves.
import { ApiError, newKey, post } from "./api.js";
import { $, $$, busy, fill, h, notice, rememberAccount, renderAccount, safeNext } from "./ui.js";

/** accountForm wires the page's form to POST path; explain maps an error to words. */
export function accountForm(path, explain) {
  const form = $("form[data-form]");
  const message = $("[data-message]");
  const button = $("button[type=submit]", form);
  const next = safeNext(new URLSearchParams(location.search).get("next"));
  for (const a of $$("a[data-switch]")) if (next !== "/") a.href += "?next=" + encodeURIComponent(next);
  renderAccount();
  // One key per filled-in form: a double submit is one account, one sign-in.
  let key = newKey();
  form.addEventListener("input", () => { key = newKey(); });

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(button, async () => {
      clearErrors(form);
      notice(message, "");
      const body = Object.fromEntries(new FormData(form));
      const missing = $$("input[required]", form).find((i) => !i.value.trim());
      if (missing) {
        fieldError(missing, `Enter your ${$(`label[for=${missing.id}]`).textContent.toLowerCase()}.`);
        return;
      }
      try {
        const { user } = await post(path, body, { key });
        rememberAccount(user);
        location.assign(next);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        key = newKey();
        const field = err.details && err.details.field && form.elements[err.details.field];
        const words = explain(err.status, err.code) || err.message;
        if (field && err.code !== "bad_credentials") fieldError(field, capital(words));
        else notice(message, words);
      }
    });
  });
}

function capital(s) { return s.charAt(0).toUpperCase() + s.slice(1); }

function clearErrors(form) {
  for (const el of $$(".field-error", form)) el.remove();
  for (const input of $$("input", form)) {
    input.removeAttribute("aria-invalid");
    const ids = (input.getAttribute("aria-describedby") || "").split(" ").filter((id) => id && !id.endsWith("-error"));
    if (ids.length) input.setAttribute("aria-describedby", ids.join(" "));
    else input.removeAttribute("aria-describedby");
  }
}

function fieldError(input, text) {
  const id = input.id + "-error";
  const el = h("p", { class: "field-error", id });
  fill(el, text);
  input.closest(".field").append(el);
  input.setAttribute("aria-invalid", "true");
  input.setAttribute("aria-describedby", [input.getAttribute("aria-describedby"), id].filter(Boolean).join(" "));
  input.focus();
}

// The organizer's start: every event, with its dashboard and settings.
import { get } from "../api.js";
import { dashboardUrl, editUrl, organizerOnly } from "../organizer.js";
import { $, dateTime, failure, fill, h, pageOf } from "../ui.js";
import { saleLabel } from "../sale.js";

const message = $("[data-message]");
try {
  if (await organizerOnly($("[data-gate]"))) {
    $("[data-organizer]").hidden = false;
    const { events } = await get("/events");
    fill($("[data-events]"), events.length ? events.map((e) =>
      h("tr", { "data-event": e.id },
        h("th", { scope: "row" }, h("a", { href: pageOf(e.id) }, e.name)),
        h("td", {}, dateTime(e.sale_opens_at)),
        h("td", {}, h("span", { class: `badge badge-${e.sale_status}` }, saleLabel(e.sale_status)),
          e.paused ? h("span", { class: "badge badge-paused" }, "Paused") : null),
        h("td", { class: "row" },
          h("a", { href: dashboardUrl(e.id) }, "Dashboard", h("span", { class: "visually-hidden" }, ` of ${e.name}`)),
          h("a", { href: editUrl(e.id) }, "Settings", h("span", { class: "visually-hidden" }, ` of ${e.name}`)))))
      : h("tr", {}, h("td", { colspan: "4" }, "No events yet.")));
  }
} catch (err) {
  failure(message, err);
}

// The event list: every event with its sale status and lowest price.
import { get } from "../api.js";
import { $, dateTime, failure, fill, h, money, pageOf, renderAccount } from "../ui.js";
import { lowestPrice, saleLabel } from "../sale.js";

renderAccount();
const list = $("[data-events]");
try {
  const { events } = await get("/events");
  const cards = events.map((e) =>
    h("article", { class: "card stack" },
      h("h2", {}, h("a", { href: pageOf(e.id) }, e.name)),
      h("p", { class: "muted" }, [e.venue, dateTime(e.starts_at)].filter(Boolean).join(" · ")),
      h("p", { class: "row" },
        h("span", { class: `badge badge-${e.sale_status}` }, saleLabel(e.sale_status)),
        e.zones.length ? h("span", {}, "From ", h("strong", {}, money(lowestPrice(e), e.currency))) : null)));
  fill(list, cards.length ? cards : h("p", {}, "No events yet. Check back soon."));
} catch (err) {
  fill(list);
  failure($("[data-message]"), err);
} finally {
  list.removeAttribute("aria-busy");
}

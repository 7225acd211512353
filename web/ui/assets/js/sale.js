// How a sale's status reads to a fan, shared by the event list and event page.

const labels = {
  scheduled: "Coming soon",
  lobby: "Lobby open",
  open: "On sale now",
  sold_out: "Sold out",
  closed: "Sale over",
};

/** saleLabel is a sale_status in words; unknown statuses read as they are. */
export const saleLabel = (status) => labels[status] || status;

/** lowestPrice is the cheapest zone's price in cents. */
export const lowestPrice = (event) => Math.min(...event.zones.map((z) => z.price_cents));

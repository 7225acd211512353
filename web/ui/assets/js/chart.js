// A small line chart drawn as SVG by hand: the dashboard needs two of them,
// which is not worth a charting library's weight on the page.
import { h } from "./ui.js";

const W = 320, H = 140, left = 44, right = 10, top = 10, bottom = 22;

/**
 * lineChart draws points ([{t: ms, v: number}], oldest first) into a figure,
 * replacing its previous drawing. The SVG is one image to a screen reader,
 * named with the latest value and the range it shows.
 */
export function lineChart(figure, points, { label, format = (v) => v.toLocaleString() }) {
  const old = figure.querySelector("svg");
  if (old) old.remove();
  const last = points[points.length - 1];
  const t1 = last ? last.t : Date.now();
  const t0 = Math.min(points.length ? points[0].t : t1, t1 - 60000); // at least a minute wide
  const top1 = Math.max(1, ...points.map((p) => p.v));
  const vmax = niceCeil(top1);
  const x = (t) => left + ((t - t0) / (t1 - t0)) * (W - left - right);
  const y = (v) => top + (1 - v / vmax) * (H - top - bottom);
  const line = points.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)} ${y(p.v).toFixed(1)}`).join(" ");
  const span = Math.round((t1 - t0) / 1000);
  const name = last ? `${label}: ${format(last.v)} now; at most ${format(top1)} over the last ${span} seconds.` : `${label}: no data yet.`;
  const svg = h("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": name },
    h("path", { class: "axis", d: `M${left} ${top} V${H - bottom} H${W - right}` }),
    h("path", { class: "axis", d: `M${left} ${y(vmax / 2)} H${W - right}`, "stroke-dasharray": "3 4" }),
    h("text", { class: "tick", x: left - 6, y: y(vmax) + 4, "text-anchor": "end" }, format(vmax)),
    h("text", { class: "tick", x: left - 6, y: y(vmax / 2) + 4, "text-anchor": "end" }, format(vmax / 2)),
    h("text", { class: "tick", x: left - 6, y: y(0) + 4, "text-anchor": "end" }, "0"),
    h("text", { class: "tick", x: left, y: H - 6 }, `${span} s ago`),
    h("text", { class: "tick", x: W - right, y: H - 6, "text-anchor": "end" }, "now"),
    points.length > 1 ? h("path", { class: "area", d: `${line} L${x(t1).toFixed(1)} ${y(0)} L${x(points[0].t).toFixed(1)} ${y(0)} Z` }) : null,
    points.length ? h("path", { class: "plot", d: points.length > 1 ? line : `M${x(t1) - 2} ${y(last.v)} h4` }) : null,
    last ? h("circle", { class: "plot", cx: x(t1), cy: y(last.v), r: 3 }) : null);
  figure.prepend(svg);
}

// niceCeil rounds a maximum up to 1, 2 or 5 times a power of ten, so the
// axis reads in round numbers.
function niceCeil(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((n) => n >= v);
}

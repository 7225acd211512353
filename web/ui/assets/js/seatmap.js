// An SVG seat map of one seated zone: rows from the stage back, each seat
// coloured by its status and changed live. It is one stop for the Tab key;
// the arrow keys move between seats and Space or Enter picks one.
import { h } from "./ui.js";

const gap = 28; // distance between seat centres, in SVG units
const r = 10;
const left = 44; // room for row labels

/**
 * seatMap draws the seats ([{id, row, status}] in stage order). onToggle(id)
 * is called when the fan picks or drops an available seat.
 */
export function seatMap({ zone, seats, onToggle }) {
  const rows = [];
  for (const s of seats) {
    let row = rows[rows.length - 1];
    if (!row || row.name !== s.row) rows.push((row = { name: s.row, seats: [] }));
    row.seats.push(s);
  }
  const cols = Math.max(1, ...rows.map((row) => row.seats.length));
  const width = left * 2 + cols * gap;
  const top = 56;
  const height = top + rows.length * gap + 8;
  const els = new Map();
  const grid = []; // [row][col] → element, for arrow keys

  const svg = h("svg", {
    viewBox: `0 0 ${width} ${height}`, role: "grid", "aria-label": `${zone.name} seat map: arrow keys move between seats, Space or Enter picks one`,
    "aria-rowcount": rows.length, "aria-colcount": cols,
  });
  svg.style.setProperty("--cols", String(cols + 3));
  svg.append(
    h("rect", { class: "stage", x: left, y: 8, width: cols * gap, height: 26, rx: 6, "aria-hidden": "true" }),
    h("text", { class: "stage-label", x: width / 2, y: 26, "text-anchor": "middle", "aria-hidden": "true" }, "STAGE"));

  rows.forEach((row, ri) => {
    const y = top + ri * gap + gap / 2;
    const offset = left + ((cols - row.seats.length) * gap) / 2;
    const g = h("g", { role: "row", "aria-rowindex": ri + 1 });
    const line = [];
    row.seats.forEach((s, si) => {
      const c = h("circle", {
        class: "seat", cx: offset + si * gap + gap / 2, cy: y, r, tabindex: "-1", role: "gridcell",
        "aria-colindex": si + 1, "data-seat": s.id, "data-status": s.status, "aria-selected": "false",
      });
      c.addEventListener("click", () => pick(c));
      els.set(s.id, c);
      line.push(c);
      g.append(c);
    });
    grid.push(line);
    svg.append(
      h("text", { class: "row-label", x: 8, y: y + 4, "aria-hidden": "true" }, row.name),
      h("text", { class: "row-label", x: width - 30, y: y + 4, "aria-hidden": "true" }, row.name),
      g);
  });

  function label(c) {
    const s = c.dataset.seat;
    const state = c.dataset.mine === "true" ? "held by you" : c.getAttribute("aria-selected") === "true" ? "chosen"
      : c.dataset.status === "AVAILABLE" ? "available" : "taken";
    c.setAttribute("aria-label", `Seat ${s}, ${state}`);
    c.setAttribute("aria-disabled", String(c.dataset.status !== "AVAILABLE"));
  }

  function pick(c) {
    focus(c);
    if (c.dataset.status === "AVAILABLE") onToggle(c.dataset.seat);
  }

  function focus(c) {
    for (const other of els.values()) other.setAttribute("tabindex", "-1");
    c.setAttribute("tabindex", "0");
    c.focus();
  }

  svg.addEventListener("keydown", (e) => {
    const c = e.target.closest && e.target.closest(".seat");
    if (!c) return;
    let ri = grid.findIndex((line) => line.includes(c));
    let ci = grid[ri].indexOf(c);
    const near = (line) => {
      const x = Number(c.getAttribute("cx"));
      return line.reduce((best, s) => (Math.abs(s.getAttribute("cx") - x) < Math.abs(best.getAttribute("cx") - x) ? s : best));
    };
    let next = null;
    switch (e.key) {
      case "ArrowRight": next = grid[ri][Math.min(ci + 1, grid[ri].length - 1)]; break;
      case "ArrowLeft": next = grid[ri][Math.max(ci - 1, 0)]; break;
      case "ArrowDown": next = near(grid[Math.min(ri + 1, grid.length - 1)]); break;
      case "ArrowUp": next = near(grid[Math.max(ri - 1, 0)]); break;
      case "Home": next = grid[ri][0]; break;
      case "End": next = grid[ri][grid[ri].length - 1]; break;
      case " ":
      case "Enter":
        e.preventDefault();
        pick(c);
        return;
      default:
        return;
    }
    e.preventDefault();
    focus(next);
  });

  for (const c of els.values()) label(c);
  const first = [...els.values()].find((c) => c.dataset.status === "AVAILABLE") || els.values().next().value;
  if (first) first.setAttribute("tabindex", "0");

  return {
    el: svg,
    /** set changes a seat's status, selection or ownership and its label. */
    set(id, { status, selected, mine } = {}) {
      const c = els.get(id);
      if (!c) return;
      if (status !== undefined) c.dataset.status = status;
      if (selected !== undefined) c.setAttribute("aria-selected", String(selected));
      if (mine !== undefined) c.dataset.mine = String(mine);
      label(c);
    },
    status: (id) => els.get(id) && els.get(id).dataset.status,
  };
}

// The ops dashboard: signs in with an operator token, draws the fleet from the live board
// stream (server-sent events read through fetch, so the token travels in a header, never in
// a URL) and offers the actions the operator's role allows. The API checks every action
// again: hiding a control is a courtesy, not the protection.
import { MapView, el, project } from "/static/map.js";

const TOKEN_KEY = "sidewalk.ops.token";
const STATE_COLOURS = {
  idle: "#1b6e3a", on_task: "#0b5cad", charging: "#b7791f",
  maintenance: "#6b7280", offline: "#6b7280", fault: "#a4161a",
};
const $ = (id) => document.getElementById(id);

let token = sessionStorage.getItem(TOKEN_KEY);
let me = null;
let map = null;
let stream = null;

class Problem extends Error {
  constructor(status, body) {
    super(body?.detail || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code;
  }
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  const parsed = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Problem(response.status, parsed);
  return parsed;
}

function toast(message) {
  $("toast").textContent = message;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => ($("toast").textContent = ""), 5000);
}

async function act(label, method, path, body) {
  try {
    await api(method, path, body);
    toast(`${label}: done`);
  } catch (e) {
    toast(`${label}: refused (${e.message})`);
  }
}

function canManage() {
  return me && (me.role === "supervisor" || me.role === "admin");
}

// --- signing in and out ---------------------------------------------------------------

async function signIn() {
  try {
    me = await api("GET", "/ops/v1/operators/me");
  } catch (e) {
    signOut(e.status === 401 ? "That token is not valid." : `Could not sign in: ${e.message}`);
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $("signin").hidden = true;
  $("board").hidden = false;
  $("who").hidden = false;
  $("me").textContent = `${me.display_name || me.email} · ${me.role}`;
  $("pilot-status-control").hidden = me.role !== "pilot";
  $("my-status").value = me.status;
  map = new MapView($("map"), { tileUrl: document.body.dataset.tileUrl || null });
  try {
    const areas = await api("GET", "/ops/v1/areas");
    map.fit(map.drawAreas(areas));
  } catch (e) {
    toast(`Service areas not shown: ${e.message}`);
  }
  follow();
}

function signOut(message = "") {
  token = null;
  me = null;
  sessionStorage.removeItem(TOKEN_KEY);
  if (stream) stream.abort();
  $("board").hidden = true;
  $("who").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message;
}

// --- the live board ---------------------------------------------------------------------

async function follow() {
  const controller = new AbortController();
  stream = controller;
  while (token && stream === controller) {
    try {
      const response = await fetch("/ops/v1/board/live", {
        headers: { Authorization: `Bearer ${token}`, Accept: "text/event-stream" },
        signal: controller.signal,
      });
      if (response.status === 401) return signOut("Your token no longer works.");
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      $("live").textContent = "live";
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const message = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(message)?.[1];
          const data = /^data: (.*)$/m.exec(message)?.[1];
          if (event === "board" && data) render(JSON.parse(data));
          if (event === "signed_out") return signOut("Your token no longer works.");
        }
      }
    } catch (e) {
      if (controller.signal.aborted) return;
    }
    $("live").textContent = "reconnecting…";
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

function render(board) {
  me = board.operator;
  if (document.activeElement !== $("my-status")) $("my-status").value = me.status;
  renderFigures(board.figures, board.alerts.length);
  renderAlerts(board.alerts);
  renderPilots(board.pilots);
  renderTasks(board.tasks.filter((t) => t.status !== "pending"), board.tasks.filter((t) => t.status === "pending"), board.at);
  renderRobots(board.robots);
  renderMap(board);
  document.body.dataset.boardAt = board.at;
}

function renderFigures(f, alerts) {
  const shown = [
    ["Deliveries done", f.deliveries_completed],
    ["Mean delivery", f.mean_delivery_minutes == null ? "–" : `${f.mean_delivery_minutes.toFixed(0)} min`],
    ["Tasks failed", f.tasks_failed],
    ["Tasks cancelled", f.tasks_cancelled],
    ["Robots in service", f.robots_in_service],
    ["Robots on a task", f.robots_on_task],
    ["Tasks waiting", f.tasks_waiting],
    ["Open alerts", f.open_alerts],
  ];
  keyed($("figures"), shown, (x) => x[0], ([label, value]) => {
    const div = document.createElement("div");
    div.innerHTML = `<dt></dt><dd></dd>`;
    div.querySelector("dt").textContent = label;
    div.querySelector("dd").textContent = value;
    return div;
  });
}

// Ids are long; people read their ends. The whole id stays in the element's title.
function shortId(id) {
  const m = /^([a-z]+)_([0-9a-z]{12,})$/.exec(id || "");
  return m ? `${m[1]}_…${m[2].slice(-6)}` : id;
}

function shortIds(text) {
  return text.replace(/\b[a-z]+_[0-9a-z]{12,}\b/g, shortId);
}

const ALERTS_SHOWN = 10;

function renderAlerts(alerts) {
  if (!alerts.length) {
    $("alerts").innerHTML = `<li class="muted">No alerts.</li>`;
    return;
  }
  const hidden = alerts.length - ALERTS_SHOWN;
  keyed($("alerts"), alerts.slice(0, ALERTS_SHOWN), (a) => a.id, (a) => {
    const li = document.createElement("li");
    li.className = `${a.severity}${a.acknowledged_by ? " acknowledged" : ""}`;
    li.dataset.alert = a.id;
    const text = document.createElement("span");
    text.textContent = `${a.severity === "critical" ? "⚠ " : ""}${shortIds(a.message)}`;
    text.title = a.message;
    li.appendChild(text);
    if (a.acknowledged_by) {
      const seen = document.createElement("span");
      seen.className = "muted";
      seen.textContent = `seen by ${a.acknowledged_by}`;
      li.appendChild(seen);
    } else {
      li.appendChild(button("Acknowledge", `Acknowledge: ${a.message}`, () =>
        act("Acknowledge", "POST", `/ops/v1/alerts/${encodeURIComponent(a.id)}/acknowledge`)));
    }
    return li;
  });
  if (hidden > 0) {
    const more = el2("li", "muted", `and ${hidden} more`);
    $("alerts").appendChild(more);
  }
}

function renderPilots(pilots) {
  keyed($("pilots"), pilots, (p) => p.id, (p) => row([
    p.display_name || p.email, p.status, `${p.robots} / ${p.capacity}`,
  ]));
}

function renderTasks(active, queue, at) {
  const manage = canManage();
  keyed($("tasks"), active, (t) => t.id, (t) => {
    const tr = row([
      [shortId(t.id), "", t.id], t.type, t.status.replace("_", " "), t.robot_serial || "–",
      [t.pilot ? shortId(t.pilot.pilot_id) : t.awaiting_pilot ? "none!" : "–", "optional"],
      [shortId(t.delivery_id) || "–", "optional", t.delivery_id || ""],
    ]);
    tr.dataset.task = t.id;
    tr.dataset.status = t.status;
    if (t.delivery_id) tr.dataset.delivery = t.delivery_id;
    const cell = el2("td", "actions");
    if (manage) {
      if (t.status === "assigned") {
        cell.appendChild(button("Reassign", `Give task ${t.id} back to the dispatcher`, () =>
          act("Reassign", "POST", `/ops/v1/tasks/${t.id}/reassign`, {})));
      }
      cell.appendChild(button("Cancel", `Cancel task ${t.id}`, () =>
        act("Cancel", "POST", `/ops/v1/tasks/${t.id}/cancel`, { reason: "cancelled_by_supervisor" }), "danger"));
    }
    tr.appendChild(cell);
    return tr;
  }, (t) => JSON.stringify([t.status, t.robot_serial, t.pilot, t.awaiting_pilot, manage]));
  keyed($("queue"), queue, (t) => t.id, (t) => {
    const waited = Math.max(0, (Date.parse(at) - Date.parse(t.created_at)) / 60000);
    const tr = row([
      [shortId(t.id), "", t.id], t.type, `${waited.toFixed(0)} min`,
      [shortId(t.delivery_id) || "–", "optional", t.delivery_id || ""],
    ]);
    tr.dataset.task = t.id;
    tr.dataset.status = t.status;
    if (t.delivery_id) tr.dataset.delivery = t.delivery_id;
    const cell = el2("td", "actions");
    if (manage) {
      cell.appendChild(button("Cancel", `Cancel task ${t.id}`, () =>
        act("Cancel", "POST", `/ops/v1/tasks/${t.id}/cancel`, { reason: "cancelled_by_supervisor" }), "danger"));
    }
    tr.appendChild(cell);
    return tr;
  }, (t) => JSON.stringify([t.status, Math.floor((Date.parse(at) - Date.parse(t.created_at)) / 60000), manage]));
}

function renderRobots(robots) {
  const manage = canManage();
  keyed($("robots"), robots, (r) => r.serial, (r) => {
    const battery = r.battery_pct == null ? "–" : `${r.battery_pct.toFixed(0)} %`;
    const tr = row([
      r.display_name ? `${r.serial} (${r.display_name})` : r.serial,
      [r.state.replace("_", " "), "state"], battery,
      [r.last_seen_at ? new Date(r.last_seen_at).toLocaleTimeString() : "–", "optional"],
    ]);
    tr.dataset.robot = r.serial;
    const cell = el2("td", "actions");
    if (manage && r.state !== "on_task") {
      const on = r.state !== "maintenance";
      cell.appendChild(button(on ? "Maintenance" : "Back in service",
        on ? `Take ${r.serial} out of service` : `Put ${r.serial} back in service`,
        () => act(on ? "Maintenance" : "Back in service", "POST", `/ops/v1/robots/${r.serial}/maintenance`, { on }),
        "secondary"));
    }
    tr.appendChild(cell);
    return tr;
  }, (r) => JSON.stringify([r.state, Math.round(r.battery_pct ?? -1), r.last_seen_at, manage]));
}

function renderMap(board) {
  if (!map || !map.box) return;
  const { routes, places, movers } = map.layers;
  routes.replaceChildren();
  places.replaceChildren();
  movers.replaceChildren();
  const robots = new Map(board.robots.map((r) => [r.serial, r]));
  for (const hub of board.hubs) {
    const [x, y] = project(hub.lat, hub.lng);
    const s = map.px(7);
    const hubMark = el("path", { d: `M${x},${y - s}L${x + s},${y + s}L${x - s},${y + s}Z`, fill: "#16202a", class: "hub" }, places);
    el("title", {}, hubMark).textContent = `Hub ${hub.name}`;
  }
  for (const task of board.tasks) {
    const left = task.trips.filter((t) => ["pending", "in_progress", "arrived"].includes(t.status));
    const robot = robots.get(task.robot_serial);
    const points = [];
    if (robot?.position) points.push(project(robot.position.lat, robot.position.lng));
    for (const trip of left) {
      const [x, y] = project(trip.destination.lat, trip.destination.lng);
      points.push([x, y]);
      const s = map.px(5);
      const shape = trip.type === "to_pickup"
        ? el("rect", { x: x - s, y: y - s, width: 2 * s, height: 2 * s, fill: "#7a3e00", class: "pickup" }, places)
        : el("path", { d: `M${x},${y - s * 1.3}L${x + s * 1.3},${y}L${x},${y + s * 1.3}L${x - s * 1.3},${y}Z`, fill: "#5b2a86", class: "dropoff" }, places);
      el("title", {}, shape).textContent = `${trip.type.replace("_", " ")} for task ${task.id}`;
    }
    if (points.length > 1) {
      el("polyline", {
        points: points.map((p) => p.join(",")).join(" "), fill: "none", stroke: "#0b5cad",
        "stroke-width": 1.5, "stroke-opacity": 0.55, "stroke-dasharray": "6 4", "vector-effect": "non-scaling-stroke", class: "route",
      }, routes);
    }
  }
  for (const r of board.robots) {
    if (!r.position) continue;
    const [x, y] = project(r.position.lat, r.position.lng);
    const low = r.battery_pct != null && r.battery_pct < r.config.battery_low_pct;
    const dot = el("circle", {
      cx: x, cy: y, r: map.px(6), fill: STATE_COLOURS[r.state] || "#6b7280",
      stroke: low ? "#a4161a" : "#ffffff", "stroke-width": low ? 3 : 1.5,
      "vector-effect": "non-scaling-stroke", class: "robot", "data-serial": r.serial, "data-state": r.state,
    }, movers);
    const battery = r.battery_pct == null ? "battery unknown" : `battery ${r.battery_pct.toFixed(0)} %`;
    el("title", {}, dot).textContent = `${r.serial}: ${r.state.replace("_", " ")}, ${battery}`;
  }
}

// --- small DOM helpers ----------------------------------------------------------------------

// Rows keyed by id: a row is rebuilt only when its signature changes, so a control someone is
// using is not swept away by the next refresh.
function keyed(parent, items, key, build, signature = (x) => JSON.stringify(x)) {
  const existing = new Map([...parent.children].filter((c) => c.dataset.key).map((c) => [c.dataset.key, c]));
  let previous = null;
  for (const item of items) {
    const k = String(key(item));
    const sig = signature(item);
    let node = existing.get(k);
    existing.delete(k);
    if (!node || node.dataset.sig !== sig) {
      const fresh = build(item);
      fresh.dataset.key = k;
      fresh.dataset.sig = sig;
      if (node) node.replaceWith(fresh);
      node = fresh;
    }
    const after = previous ? previous.nextSibling : parent.firstChild;
    if (node !== after) parent.insertBefore(node, after);
    previous = node;
  }
  for (const gone of existing.values()) gone.remove();
  for (const stray of [...parent.children]) if (!stray.dataset.key) stray.remove();
}

// A row of cells, each its text or [text, class, title].
function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const [text, className, title] = Array.isArray(cell) ? cell : [cell, "", ""];
    const td = el2("td", className, text);
    if (title) td.title = title;
    tr.appendChild(td);
  }
  return tr;
}

function el2(name, className = "", text = "") {
  const node = document.createElement(name);
  if (className) node.className = className;
  if (text !== "") node.textContent = String(text);
  return node;
}

function button(label, description, onClick, kind = "") {
  const b = el2("button", kind, label);
  b.type = "button";
  b.setAttribute("aria-label", description);
  b.addEventListener("click", async () => {
    b.disabled = true;
    try { await onClick(); } finally { b.disabled = false; }
  });
  return b;
}

// --- wiring ---------------------------------------------------------------------------------

$("signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  token = $("token").value.trim();
  $("token").value = "";
  signIn();
});
$("sign-out").addEventListener("click", () => signOut());
$("my-status").addEventListener("change", () =>
  act("Status", "PATCH", `/ops/v1/operators/${me.id}`, { status: $("my-status").value }));
if (token) signIn();

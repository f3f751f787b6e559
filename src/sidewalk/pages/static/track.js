// The customer's tracking page: the delivery's status, when it should arrive and the robot
// (or courier) on a small map, kept current by server-sent events. The token is the last
// part of the page's own address; the page asks for nothing else.
import { MapView, el, project } from "/static/map.js";

const $ = (id) => document.getElementById(id);
const token = location.pathname.split("/").filter(Boolean).pop();
const STEPS = [
  ["pending", "Order received"],
  ["enroute_to_pickup", "On the way to the store"],
  ["at_pickup", "Picking up your order"],
  ["enroute_to_dropoff", "On the way to you"],
  ["delivered", "Delivered"],
];
const ORDER = ["pending", "assigned", "enroute_to_pickup", "at_pickup", "enroute_to_dropoff", "at_dropoff", "delivered"];
const map = new MapView($("map"), { tileUrl: document.body.dataset.tileUrl || null });
let fitted = false;

function render(t) {
  $("merchant").textContent = `Your order from ${t.merchant_name}`;
  $("status").textContent = t.status_label;
  $("status").dataset.status = t.status;
  document.title = `${t.status_label} · your delivery`;
  $("eta").textContent = t.eta
    ? `Arriving around ${new Date(t.eta).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`
    : "";
  $("pin").hidden = !t.unlock_pin;
  $("pin-code").textContent = t.unlock_pin || "";
  const reached = ORDER.indexOf(t.status);
  $("steps").replaceChildren(...STEPS.map(([status, label]) => {
    const li = document.createElement("li");
    const at = ORDER.indexOf(status);
    li.textContent = label;
    if (reached >= 0 && at < reached) li.className = "done";
    if (status === t.status || (t.status === "assigned" && status === "pending") || (t.status === "at_dropoff" && status === "enroute_to_dropoff")) {
      li.className = "current";
      li.setAttribute("aria-current", "step");
    }
    if (t.status === "delivered" && status === "delivered") li.className = "done";
    return li;
  }));
  $("note").textContent = t.ended && t.status !== "delivered"
    ? "This delivery has ended. The store has been told and will be in touch."
    : "";
  draw(t);
}

function draw(t) {
  const points = [[t.pickup.lat, t.pickup.lng], [t.dropoff.lat, t.dropoff.lng]];
  if (t.vehicle) points.push([t.vehicle.lat, t.vehicle.lng]);
  if (!fitted) { map.fit(points); fitted = true; }
  const { places, movers } = map.layers;
  places.replaceChildren();
  movers.replaceChildren();
  const s = map.px(7);
  const [px, py] = project(t.pickup.lat, t.pickup.lng);
  el("title", {}, el("rect", { x: px - s, y: py - s, width: 2 * s, height: 2 * s, fill: "#7a3e00" }, places)).textContent = "The store";
  const [dx, dy] = project(t.dropoff.lat, t.dropoff.lng);
  el("title", {}, el("path", { d: `M${dx},${dy - s * 1.3}L${dx + s * 1.3},${dy}L${dx},${dy + s * 1.3}L${dx - s * 1.3},${dy}Z`, fill: "#5b2a86" }, places)).textContent = "You";
  if (t.vehicle) {
    const [vx, vy] = project(t.vehicle.lat, t.vehicle.lng);
    const dot = el("circle", { cx: vx, cy: vy, r: map.px(8), fill: "#0b5cad", stroke: "#fff", "stroke-width": 2, "vector-effect": "non-scaling-stroke", class: "vehicle" }, movers);
    el("title", {}, dot).textContent = t.vehicle.kind === "robot" ? "Your delivery robot" : "Your courier";
  }
}

function follow() {
  const source = new EventSource(`/track/${encodeURIComponent(token)}/live`);
  source.addEventListener("tracking", (event) => {
    const t = JSON.parse(event.data);
    render(t);
    if (t.ended) source.close();
  });
  source.addEventListener("expired", () => {
    source.close();
    $("status").textContent = "This tracking link has expired";
  });
}

follow();

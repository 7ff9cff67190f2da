// The Yui dashboard. It loads the node's state once, then follows the
// node's event stream. Everything it draws comes from the node it was
// loaded from; it fetches nothing else unless the user sets a map image.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const MAX_POINTS = 60;
// STALE_AFTER is how long the page waits for any event before it calls
// its data stale. The node sends a heartbeat every 5 s.
const STALE_AFTER_MS = 12000;

// Each level has its own shape as well as its word: a circle for info, a
// triangle for a warning and an octagon, as on a stop sign, to evacuate.
// The shapes are drawn, so they need no emoji font.
const LEVELS = {
  info: { shape: "circle", mark: "i", label: "INFO" },
  warning: { shape: "triangle", mark: "!", label: "WARNING" },
  evacuate: { shape: "octagon", mark: "!", label: "EVACUATE" },
};
const SHAPES = {
  triangle: "12,1 23,22 1,22",
  octagon: "7,1 17,1 23,7 23,17 17,23 7,23 1,17 1,7",
};
const STATUS = {
  up: { icon: "\u2714", label: "up" },
  stale: { icon: "\u25d4", label: "stale" },
  unreachable: { icon: "\u2716", label: "unreachable" },
};

const model = {
  settings: loadSettings(),
  nodes: null,
  // known remembers every peer seen since the page loaded, so that a
  // peer the node forgot is shown as unreachable instead of vanishing.
  known: new Map(),
  alerts: new Map(),
  sensors: new Map(),
  tags: [],
  sensorsError: "",
  tagsError: "",
  mapURL: "",
  mapBounds: null,
  lastEvent: 0,
  connected: false,
};

let source = null;
let drawPending = false;

function $(id) { return document.getElementById(id); }

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function svgEl(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

function loadSettings() {
  const get = (k) => localStorage.getItem("yui." + k) || "";
  return { user: get("user"), ns: get("ns"), network: get("network"), mapURL: get("mapURL"), mapBounds: get("mapBounds") };
}

function saveSettings(s) {
  for (const [k, v] of Object.entries(s)) localStorage.setItem("yui." + k, v);
  model.settings = s;
}

function query() {
  const p = new URLSearchParams();
  const s = model.settings;
  if (s.user) p.set("user", s.user);
  if (s.ns) p.set("ns", s.ns);
  if (s.network) p.set("network", s.network);
  return p.toString();
}

// ---- Loading and streaming ----

async function loadUsers() {
  const select = $("user");
  try {
    const res = await fetch("/v1/users");
    if (!res.ok) throw new Error("status " + res.status);
    const users = await res.json();
    for (const u of users) select.append(el("option", { value: u.name }, u.name));
  } catch (err) {
    $("settings-error").textContent = "Could not list the node's users: " + err.message;
  }
  select.value = model.settings.user;
  if (select.value !== model.settings.user) select.value = "";
}

async function loadState() {
  try {
    const res = await fetch("/v1/dashboard/state?" + query());
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || "status " + res.status);
    applyState(body);
  } catch (err) {
    // Keep what the page shows and tell the user it may be old.
    setConnection("lost", "Could not load the node's state (" + err.message + "); showing older data");
  }
}

function applyState(st) {
  model.nodes = st.nodes;
  rememberNodes(st.nodes);
  model.alerts = new Map(st.alerts.map((a) => [a.id, a]));
  model.sensors = new Map(st.sensors.map((s) => [s.source, s]));
  model.sensorsError = st.sensors_error || "";
  model.tags = st.tags;
  model.tagsError = st.tags_error || "";
  model.mapURL = st.map_url || "";
  model.mapBounds = st.map_bounds || null;
  const list = $("namespaces");
  list.replaceChildren(...st.namespaces.map((ns) => el("option", { value: ns })));
  markEvent();
  scheduleDraw();
}

function connect() {
  if (source) source.close();
  source = new EventSource("/v1/dashboard/stream?" + query());
  // The node subscribes the stream before it responds, so loading the state once
  // it is open misses nothing.
  source.onopen = () => { model.connected = true; loadState(); };
  source.onerror = () => {
    model.connected = false;
    setConnection("lost", "Connection to the node lost; retrying. Showing data from " + lastEventTime());
    scheduleDraw();
  };
  source.addEventListener("heartbeat", () => markEvent());
  source.addEventListener("nodes", (e) => {
    model.nodes = JSON.parse(e.data);
    rememberNodes(model.nodes);
    markEvent();
    scheduleDraw();
  });
  source.addEventListener("alert", (e) => {
    const a = JSON.parse(e.data);
    model.alerts.set(a.id, a);
    markEvent();
    drawAlerts();
  });
  source.addEventListener("readings", (e) => {
    mergeReadings(JSON.parse(e.data));
    markEvent();
    scheduleDraw();
  });
  source.addEventListener("tags", (e) => {
    model.tags = JSON.parse(e.data);
    model.tagsError = "";
    markEvent();
    scheduleDraw();
  });
}

function mergeReadings(ev) {
  if (ev.namespace !== model.settings.ns) return;
  for (const s of ev.sensors) {
    const old = model.sensors.get(s.source);
    if (old) {
      for (const series of s.series) {
        const prev = old.series.find((x) => x.field === series.field);
        if (!prev) { old.series.push(series); continue; }
        for (const p of series.points) {
          const last = prev.points[prev.points.length - 1];
          if (!last || p[0] > last[0]) prev.points.push(p);
        }
        if (prev.points.length > MAX_POINTS) prev.points.splice(0, prev.points.length - MAX_POINTS);
      }
      s.series = old.series;
    }
    s.dirty = true;
    model.sensors.set(s.source, s);
  }
}

function rememberNodes(nodes) {
  const now = Date.now();
  for (const p of nodes.peers) model.known.set(p.id, { node: p, listed: now });
}

function markEvent() {
  model.lastEvent = Date.now();
  if (model.connected) setConnection("live", "Live");
}

function lastEventTime() {
  return model.lastEvent ? new Date(model.lastEvent).toLocaleTimeString() : "never";
}

function setConnection(state, text) {
  const badge = $("connection");
  const icons = { live: "\u25cf", lost: "\u2716", stale: "\u25d4", connecting: "\u2026" };
  badge.dataset.state = state;
  badge.replaceChildren(el("span", { "aria-hidden": "true" }, icons[state] + " "), document.createTextNode(text));
}

function watchStaleness() {
  setInterval(() => {
    if (!model.connected || !model.lastEvent) return;
    const age = Date.now() - model.lastEvent;
    if (age > STALE_AFTER_MS) {
      setConnection("stale", "No update for " + Math.round(age / 1000) + " s; data from " + lastEventTime());
    }
    drawAlerts();
  }, 1000);
}

// ---- Drawing ----

function scheduleDraw() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => {
    drawPending = false;
    drawAlerts();
    drawNodes();
    drawSensors();
    drawTags();
    drawMap();
  });
}

function drawAlerts() {
  const now = Date.now();
  const active = [...model.alerts.values()]
    .filter((a) => Date.parse(a.expires) > now)
    .sort((a, b) => levelRank(b.level) - levelRank(a.level) || Date.parse(b.issued) - Date.parse(a.issued));
  const list = $("alerts");
  const ids = active.map((a) => a.id).join(",");
  if (list.dataset.ids === ids) return;
  list.dataset.ids = ids;
  list.replaceChildren(...active.map(alertItem));
  $("alerts-empty").hidden = active.length > 0;
}

function levelRank(level) { return { info: 1, warning: 2, evacuate: 3 }[level] || 0; }

function levelIcon(level) {
  const svg = svgEl("svg", { class: "icon", viewBox: "0 0 24 24", "aria-hidden": "true" });
  if (level.shape === "circle") svg.append(svgEl("circle", { cx: 12, cy: 12, r: 11 }));
  else svg.append(svgEl("polygon", { points: SHAPES[level.shape] }));
  const mark = svgEl("text", { x: 12, y: level.shape === "triangle" ? 19 : 17, "text-anchor": "middle" });
  mark.textContent = level.mark;
  svg.append(mark);
  return svg;
}

function alertItem(a) {
  const level = LEVELS[a.level] || { shape: "circle", mark: "?", label: a.level.toUpperCase() };
  const li = el("li", { class: "alert", "data-id": a.id, "data-level": a.level });
  li.append(levelIcon(level));
  const body = el("div");
  body.append(el("div", { class: "level" }, level.label), el("div", { class: "text" }, a.text));
  const issued = new Date(a.issued).toLocaleString();
  const expires = new Date(a.expires).toLocaleString();
  body.append(el("div", { class: "meta" }, "From " + a.authority + ", issued " + issued + ", until " + expires));
  li.append(body);
  return li;
}

// nodeRows returns the listed nodes and the remembered peers the node no
// longer lists, which are shown as unreachable.
// While the page cannot reach its node, that node shows as unreachable
// and its peers with the status it last reported.
function nodeRows() {
  const n = model.nodes;
  const listed = new Set(n.peers.map((p) => p.id));
  let self = n.self;
  let peers = n.peers;
  if (!model.connected) {
    self = { ...self, status: "unreachable" };
    peers = peers.map((p) => ({ ...p, asOf: model.lastEvent }));
  }
  const rows = [self, ...peers];
  for (const [id, k] of model.known) {
    if (listed.has(id)) continue;
    rows.push({ ...k.node, status: "unreachable", gone: k.listed });
  }
  return rows;
}

function drawNodes() {
  if (!model.nodes) return;
  const self = model.nodes.self;
  $("self-name").textContent = "node " + self.short + " (" + self.role + ")";
  const count = 1 + model.nodes.peers.length;
  const badge = $("node-count");
  badge.dataset.count = String(count);
  badge.textContent = "(" + count + (count === 1 ? " node" : " nodes") + ")";

  const rows = nodeRows();
  $("nodes").tBodies[0].replaceChildren(...rows.map(nodeRow));
  drawNetwork(rows);
}

function nodeRow(n) {
  const st = STATUS[n.status] || STATUS.up;
  const tr = el("tr", { "data-id": n.id, "data-status": n.status });
  tr.append(el("td", {}, n.short + (n.link === "self" ? " (this node)" : "")));
  let status = st.icon + " " + st.label;
  if (n.asOf) status += " (last known at " + new Date(n.asOf).toLocaleTimeString() + ")";
  tr.append(el("td", { class: "status", "data-status": n.status }, status));
  tr.append(el("td", {}, n.link));
  tr.append(el("td", {}, n.rtt_ms ? n.rtt_ms.toFixed(1) + " ms" : "\u2013"));
  let heard = "\u2013";
  if (n.gone) heard = "no longer listed since " + new Date(n.gone).toLocaleTimeString();
  else if (n.link !== "self") heard = Math.round(n.last_ago_s || 0) + " s ago";
  tr.append(el("td", {}, heard));
  return tr;
}

function drawNetwork(rows) {
  const svg = $("diagram");
  const parts = [];
  for (const n of rows) {
    if (n.link === "self") continue;
    parts.push(svgEl("line", { class: "link", "data-status": n.status, x1: 0, y1: 0, x2: n.position.x, y2: n.position.y }));
  }
  for (const n of rows) {
    const st = STATUS[n.status] || STATUS.up;
    const g = svgEl("g", { class: "node", "data-status": n.status, "data-link": n.link,
      transform: "translate(" + n.position.x + "," + n.position.y + ")" });
    const title = svgEl("title");
    title.textContent = n.short + ": " + st.label;
    g.append(title, svgEl("circle", { r: n.link === "self" ? 12 : 9 }));
    const icon = svgEl("text", { "text-anchor": "middle", dy: "2.5" });
    icon.textContent = n.link === "self" ? "\u2605" : st.icon;
    const label = svgEl("text", { "text-anchor": "middle", dy: "22" });
    label.textContent = n.short + (n.link === "self" ? "" : " " + st.label);
    g.append(icon, label);
    parts.push(g);
  }
  svg.replaceChildren(...parts);
}

function drawSensors() {
  const box = $("sensors");
  const note = $("sensors-note");
  const s = model.settings;
  if (!s.user) note.textContent = "Sign in as one of the node's users in Settings to see sensors.";
  else if (!s.ns) note.textContent = "Choose a sensor namespace in Settings.";
  else if (model.sensorsError) note.textContent = model.sensorsError;
  else if (model.sensors.size === 0) note.textContent = "No readings reached this node in " + s.ns + " since it started.";
  else note.textContent = "";
  $("sensor-count").textContent = model.sensors.size ? "(" + model.sensors.size + ")" : "";

  const cards = new Map([...box.children].map((c) => [c.dataset.source, c]));
  const sorted = [...model.sensors.keys()].sort();
  for (const src of sorted) {
    const sensor = model.sensors.get(src);
    let card = cards.get(src);
    if (card && !sensor.dirty) continue;
    const fresh = sensorCard(sensor);
    if (card) card.replaceWith(fresh);
    else box.append(fresh);
    sensor.dirty = false;
  }
  for (const [src, card] of cards) if (!model.sensors.has(src)) card.remove();
  // Keep cards in source order after new sensors arrived.
  if (box.children.length === sorted.length && [...box.children].some((c, i) => c.dataset.source !== sorted[i])) {
    const byName = new Map([...box.children].map((c) => [c.dataset.source, c]));
    box.replaceChildren(...sorted.map((src) => byName.get(src)));
  }
}

function sensorCard(s) {
  const card = el("article", { class: "sensor", "data-source": s.source });
  card.append(el("h3", {}, s.source), el("div", { class: "time" }, new Date(s.time).toLocaleString()));
  const dl = el("dl");
  for (const f of s.fields) {
    let v = "missing";
    if (f.number !== undefined) v = formatNumber(f.number);
    else if (f.text !== undefined && f.text !== "") v = f.text;
    dl.append(el("dt", {}, f.name), el("dd", {}, v));
  }
  card.append(dl);
  for (const series of s.series.slice(0, 3)) {
    if (series.points.length < 2) continue;
    card.append(el("div", { class: "spark-label" }, series.field + ", last " + series.points.length + " values"));
    card.append(sparkline(series.points));
  }
  return card;
}

function formatNumber(x) {
  return Math.abs(x) >= 1000 || Number.isInteger(x) ? String(x) : x.toFixed(2);
}

// sparkline draws values as a line in a 100×20 box, stretched to the card.
function sparkline(points) {
  const ts = points.map((p) => p[0]);
  const vs = points.map((p) => p[1]);
  const t0 = Math.min(...ts), t1 = Math.max(...ts);
  const v0 = Math.min(...vs), v1 = Math.max(...vs);
  const xs = (t) => (t1 > t0 ? ((t - t0) / (t1 - t0)) * 100 : 50);
  const ys = (v) => (v1 > v0 ? 19 - ((v - v0) / (v1 - v0)) * 18 : 10);
  const svg = svgEl("svg", { class: "spark", viewBox: "0 0 100 20", preserveAspectRatio: "none", role: "img",
    "aria-label": "from " + formatNumber(v0) + " to " + formatNumber(v1) });
  svg.append(svgEl("polyline", { points: points.map((p) => xs(p[0]).toFixed(2) + "," + ys(p[1]).toFixed(2)).join(" ") }));
  return svg;
}

function drawTags() {
  const note = $("tags-note");
  if (!model.settings.user) note.textContent = "Sign in as a guardian in Settings to see your tags.";
  else if (model.tagsError) note.textContent = model.tagsError;
  else if (model.tags.length === 0) note.textContent = model.settings.user + " has no tags.";
  else note.textContent = "";
  $("tags").replaceChildren(...model.tags.map(tagItem));
}

function tagItem(t) {
  const li = el("li", { class: "tag-item", "data-name": t.name });
  let text = t.name + ": ";
  if (t.error) text += "cannot be located (" + t.error + ")";
  else if (!t.latest) text += "not heard lately";
  else {
    const p = t.latest.position;
    li.dataset.x = String(p.x);
    li.dataset.y = String(p.y);
    text += "at x " + p.x.toFixed(1) + " m, y " + p.y.toFixed(1) + " m, within " + t.latest.radius_m.toFixed(1) +
      " m, seen " + new Date(t.latest.time).toLocaleTimeString() + " by " + t.latest.relays + " relays";
  }
  li.textContent = text;
  return li;
}

// ---- Map ----

// mapItems returns what has a position: this node, located sensors and
// tags, each with a kind, a label and a radius in map units.
function mapItems() {
  const items = [];
  const self = model.nodes && model.nodes.self;
  if (self && self.location) items.push({ kind: "self", label: "this node", x: self.location.x, y: self.location.y, r: 0 });
  for (const s of model.sensors.values()) {
    if (s.location) items.push({ kind: "sensor", label: s.source, x: s.location.x, y: s.location.y, r: 0 });
  }
  for (const t of model.tags) {
    if (t.latest) items.push({ kind: "tag", label: t.name, x: t.latest.position.x, y: t.latest.position.y, r: t.latest.radius_m });
  }
  return items;
}

function mapSettings() {
  const s = model.settings;
  const url = s.mapURL || model.mapURL;
  let bounds = model.mapBounds;
  const parsed = s.mapBounds.split(",").map(Number);
  if (parsed.length === 4 && parsed.every(Number.isFinite) && parsed[2] > parsed[0] && parsed[3] > parsed[1]) bounds = parsed;
  return { url, bounds };
}

function drawMap() {
  const svg = $("map");
  const items = mapItems();
  const bg = mapSettings();
  let [x0, y0, x1, y1] = bg.url && bg.bounds ? bg.bounds : [Infinity, Infinity, -Infinity, -Infinity];
  for (const it of items) {
    x0 = Math.min(x0, it.x - it.r); y0 = Math.min(y0, it.y - it.r);
    x1 = Math.max(x1, it.x + it.r); y1 = Math.max(y1, it.y + it.r);
  }

  // An SVG element has no hidden property, so a class hides the map.
  svg.classList.toggle("empty", !Number.isFinite(x0));
  if (!Number.isFinite(x0)) {
    svg.replaceChildren();
    $("map-note").textContent = "Nothing with a position yet: sensors with a location, your tags and a node started with a location appear here.";
    return;
  }
  // Pad the square view around the items' centre, more on the right
  // where the labels go.
  const span = Math.max(x1 - x0, y1 - y0, 1e-6);
  const size = span * 1.3;
  const cx = (x0 + x1) / 2 + span * 0.07;
  const cy = (y0 + y1) / 2;
  // The map's y grows upwards, the SVG's downwards, so y is negated.
  svg.setAttribute("viewBox", [cx - size / 2, -cy - size / 2, size, size].join(" "));

  const unit = size / 100;
  const parts = [];
  if (bg.url && bg.bounds) {
    const [bx0, by0, bx1, by1] = bg.bounds;
    parts.push(svgEl("image", { href: bg.url, x: bx0, y: -by1, width: bx1 - bx0, height: by1 - by0, preserveAspectRatio: "none" }));
  }
  for (const it of items) parts.push(mapMarker(it, unit));
  svg.replaceChildren(...parts);
  $("map-note").textContent = "\u25a0 sensor   \u25cf tag with its accuracy circle   \u25ce this node";
}

function mapMarker(it, unit) {
  const g = svgEl("g", { class: "map-item", "data-kind": it.kind, "data-label": it.label });
  const title = svgEl("title");
  title.textContent = it.label + " at " + it.x.toFixed(1) + ", " + it.y.toFixed(1) + (it.r ? " within " + it.r.toFixed(1) : "");
  g.append(title);
  const x = it.x, y = -it.y;
  if (it.kind === "tag") {
    g.append(svgEl("circle", { class: "map-accuracy", cx: x, cy: y, r: it.r }));
    g.append(svgEl("circle", { class: "map-tag", cx: x, cy: y, r: 1.5 * unit }));
  } else if (it.kind === "sensor") {
    g.append(svgEl("rect", { class: "map-sensor", x: x - unit, y: y - unit, width: 2 * unit, height: 2 * unit }));
  } else {
    g.append(svgEl("circle", { class: "map-self", cx: x, cy: y, r: 2.5 * unit }));
  }
  const label = svgEl("text", { x: x + 2.5 * unit, y: y - 1.5 * unit, "font-size": 2.5 * unit });
  label.textContent = it.label;
  g.append(label);
  return g;
}

// ---- Settings ----

function fillSettings() {
  const s = model.settings;
  $("ns").value = s.ns;
  $("network").value = s.network;
  $("map-url").value = s.mapURL;
  $("map-bounds").value = s.mapBounds;
}

function onSettings(ev) {
  ev.preventDefault();
  const s = {
    user: $("user").value,
    ns: $("ns").value.trim(),
    network: $("network").value.trim(),
    mapURL: $("map-url").value.trim(),
    mapBounds: $("map-bounds").value.trim(),
  };
  $("settings-error").textContent = "";
  if (s.mapBounds && s.mapBounds.split(",").map(Number).filter(Number.isFinite).length !== 4) {
    $("settings-error").textContent = "Image corners need four numbers: min x, min y, max x, max y.";
    return;
  }
  const changedStream = s.user !== model.settings.user || s.ns !== model.settings.ns || s.network !== model.settings.network;
  saveSettings(s);
  if (changedStream) {
    model.sensors = new Map();
    model.tags = [];
    $("sensors").replaceChildren();
    connect();
  }
  scheduleDraw();
}

async function main() {
  fillSettings();
  $("settings").addEventListener("submit", onSettings);
  drawSensors();
  drawTags();
  await loadUsers();
  connect();
  watchStaleness();
}

main();

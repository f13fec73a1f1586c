// The live page: a tile per camera, kept up to date from /api/cameras (every 2 s, and at
// start) and /api/events (Server-Sent Events: "result" per classified frame, "state" when
// a camera's state changes). Text from the server is only ever set as textContent.
"use strict";

const tiles = new Map(); // camera name -> {el, parts, times}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function videoUrl(name) {
  return "/video/" + encodeURIComponent(name) + ".mjpg";
}

function tileFor(name) {
  let t = tiles.get(name);
  if (t) return t;
  const root = el("section", "tile");
  root.dataset.camera = name;
  root.dataset.state = "connecting";
  root.id = "tile-" + name;
  const head = el("div", "tile-head");
  head.append(el("h2", "name", name));
  const state = el("span", "state", "connecting");
  head.append(state);
  const box = el("div", "video-box");
  const img = el("img", "video");
  img.alt = "live video of " + name;
  img.src = videoUrl(name);
  // The stream ends when the server drops a slow client or restarts: open it again.
  img.addEventListener("error", () => {
    setTimeout(() => { img.src = videoUrl(name) + "?t=" + Date.now(); }, 2000);
  });
  box.append(img);
  const labels = el("ol", "labels");
  const foot = el("div", "tile-foot");
  const fps = el("span", "fps", "– fps");
  const latency = el("span", "latency", "– ms");
  const frame = el("span", "frame", "");
  foot.append(fps, latency, frame);
  root.append(head, box, labels, foot);
  const container = document.getElementById("tiles");
  document.getElementById("empty")?.remove();
  // In name order, whichever camera was heard of first.
  const after = [...container.querySelectorAll("section.tile")].find((e) => e.dataset.camera > name);
  container.insertBefore(root, after ?? null);
  t = { el: root, state, labels, fps, latency, frame, times: [], serverFps: false };
  tiles.set(name, t);
  return t;
}

function setState(name, state) {
  if (!state) return;
  const t = tileFor(name);
  t.el.dataset.state = state;
  t.state.textContent = state;
}

// The top-k of a result in the JSON Lines schema ({"classifications": [{"labels": [...]}]}).
function labelsOf(result) {
  if (!result) return null;
  const c = Array.isArray(result.classifications) ? result.classifications[0] : null;
  if (c && Array.isArray(c.labels)) return c.labels;
  if (Array.isArray(result.labels)) return result.labels;
  return c ? [] : null;
}

function setResult(name, result) {
  const labels = labelsOf(result);
  if (labels === null) return;
  const t = tileFor(name);
  const items = labels.map((l) => {
    const li = el("li");
    const score = Number(l.score) || 0;
    const bar = el("span", "bar");
    const fill = el("span");
    fill.style.width = Math.max(0, Math.min(100, score * 100)).toFixed(1) + "%";
    bar.append(fill);
    li.append(el("span", "label", String(l.label)), bar, el("span", "score", score.toFixed(3)));
    return li;
  });
  t.labels.replaceChildren(...items);
  t.el.dataset.top1 = labels.length ? String(labels[0].label) : "";
  if (result.frame !== undefined) {
    t.el.dataset.frame = String(result.frame);
    t.frame.textContent = "frame " + result.frame;
  }
  const lat = result["latency-ms"] ?? result.latency_ms ?? result.latency;
  if (typeof lat === "number") t.latency.textContent = lat.toFixed(1) + " ms";
  // Without the server's fps, count the results of the last 2 s.
  const now = performance.now();
  t.times.push(now);
  while (t.times.length && now - t.times[0] > 2000) t.times.shift();
  if (!t.serverFps && t.times.length > 1)
    t.fps.textContent = ((t.times.length - 1) * 1000 / (now - t.times[0])).toFixed(1) + " fps";
}

function setStats(name, stats) {
  if (!stats) return;
  const t = tileFor(name);
  if (typeof stats.fps === "number") {
    t.serverFps = true;
    t.fps.textContent = stats.fps.toFixed(1) + " fps";
  }
  const lat = stats["latency-ms"] ?? stats.latency_ms;
  if (typeof lat === "number") t.latency.textContent = lat.toFixed(1) + " ms";
}

async function refresh() {
  try {
    const r = await fetch("/api/cameras", { cache: "no-store" });
    if (!r.ok) return;
    const j = await r.json();
    for (const c of j.cameras || []) {
      if (!c || typeof c.name !== "string") continue;
      tileFor(c.name);
      setState(c.name, c.state);
      if (c.result) setResult(c.name, c.result);
      setStats(c.name, c.stats);
    }
  } catch (e) {
    // The app is restarting or gone: the link indicator says so; try again later.
  }
}

function listen() {
  const link = document.getElementById("link");
  const es = new EventSource("/api/events");
  es.addEventListener("open", () => {
    link.dataset.link = "live";
    link.textContent = "live";
    refresh();
  });
  es.addEventListener("error", () => {
    link.dataset.link = "lost";
    link.textContent = "connection lost, retrying…";
  });
  es.addEventListener("result", (ev) => {
    const d = JSON.parse(ev.data);
    const name = d.camera ?? d.stream;
    if (typeof name === "string") setResult(name, d.result ?? d);
  });
  es.addEventListener("state", (ev) => {
    const d = JSON.parse(ev.data);
    if (typeof d.camera !== "string") return;
    if (d.removed) {  // taken out of the app (its control endpoint): the tile goes
      tiles.get(d.camera)?.el.remove();
      tiles.delete(d.camera);
      return;
    }
    setState(d.camera, d.state);
  });
}

refresh();
listen();
setInterval(refresh, 2000);

// The stylepedal panel: renders /api/state (pushed by server-sent events) and posts commands.
"use strict";
const token = new URLSearchParams(location.search).get("token");
const query = token ? "?token=" + encodeURIComponent(token) : "";
const headers = { "Content-Type": "application/json" };
if (token) headers["Authorization"] = "Bearer " + token;
const $ = (id) => document.getElementById(id);
let state = null;
let built = false;
const busy = new Set(); // sliders the user is moving: the state does not move them meanwhile

async function post(path, body) {
  try {
    const r = await fetch(path + query, { method: "POST", headers, body: JSON.stringify(body) });
    const doc = await r.json();
    $("error").textContent = r.ok ? "" : doc.error;
    return doc;
  } catch (e) {
    $("error").textContent = String(e);
    return null;
  }
}

function buildPresets(presets) {
  const grid = $("presets");
  grid.textContent = "";
  for (const p of presets) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "preset";
    b.dataset.preset = p.name;
    const prog = document.createElement("span");
    prog.className = "program";
    prog.textContent = p.program === null ? "" : "#" + p.program;
    const name = document.createElement("strong");
    name.textContent = p.name;
    const desc = document.createElement("span");
    desc.className = "description";
    desc.textContent = p.description || "";
    b.append(prog, name, desc);
    b.addEventListener("click", () => post("/api/preset", { name: p.name }));
    grid.append(b);
  }
}

function meter(id, db) {
  $(id + "_peak_db").textContent = db.toFixed(1);
  $(id + "_meter").style.width = Math.max(0, Math.min(100, ((db + 60) / 60) * 100)) + "%";
}

function render(s) {
  state = s;
  if (!built) { buildPresets(s.presets); built = true; }
  $("preset-name").textContent = s.preset;
  for (const b of document.querySelectorAll(".preset")) {
    b.classList.toggle("current", b.dataset.preset === s.preset);
    b.classList.toggle("requested", b.dataset.preset === s.requested && s.requested !== s.preset);
  }
  for (const el of document.querySelectorAll("input[data-param]")) {
    const key = el.dataset.param;
    const value = s[key];
    el.disabled = key in s.has && !s.has[key];
    if (value !== null && value !== undefined && !busy.has(el)) el.value = value;
    $(key + "_value").textContent = value === null || value === undefined ? "" : String(+(+value).toFixed(2));
  }
  $("bypass").classList.toggle("on", s.bypass);
  $("bypass").textContent = s.bypass ? "bypassed" : "bypass";
  meter("input", s.input_peak_db);
  meter("output", s.output_peak_db);
  $("input_clip").classList.toggle("on", s.input_clip);
  $("output_clip").classList.toggle("on", s.output_clip);
  $("cpu_share").textContent = (100 * s.cpu_share).toFixed(1);
  $("xruns").textContent = s.xruns;
  $("faults").textContent = s.faults;
  $("latency_ms").textContent = s.latency_ms.toFixed(1);
}

// Slider moves: at most one post per 50 ms, always the newest position last.
const pending = {};
let timer = null;
function flush() {
  timer = null;
  const body = Object.assign({}, pending);
  for (const k of Object.keys(pending)) delete pending[k];
  if (Object.keys(body).length) post("/api/params", body);
}
for (const el of document.querySelectorAll("input[data-param]")) {
  el.addEventListener("input", () => {
    busy.add(el);
    pending[el.dataset.param] = parseFloat(el.value);
    if (!timer) timer = setTimeout(flush, 50);
  });
  el.addEventListener("change", () => { busy.delete(el); });
}
$("bypass").addEventListener("click", () => post("/api/params", { bypass: !(state && state.bypass) }));

function follow() {
  const events = new EventSource("/api/events" + query);
  events.onopen = () => $("link").classList.add("up");
  events.onmessage = (e) => render(JSON.parse(e.data));
  events.onerror = () => $("link").classList.remove("up"); // the browser reconnects by itself
}
fetch("/api/state" + query).then((r) => r.json()).then((s) => { if (s.presets) render(s); });
follow();

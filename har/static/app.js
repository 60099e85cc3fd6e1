// The upload page: preview the chosen video, POST it to /api/predict, draw the top classes
// and, for a video longer than one window, the top class over time under it.
"use strict";

const $ = (id) => document.getElementById(id);
const app = document.querySelector(".app");
const maxBytes = parseFloat(app.dataset.maxUploadMb) * 1024 * 1024;
const modelSelect = $("model");  // absent when the server has one model
let chosen = null;        // the File being shown
let needsPoster = false;  // the browser cannot play it: ask the server for a frame
let latest = 0;           // number of the newest request; older answers are dropped
// Distinct colours for the classes of a timeline, in order of first appearance.
const PALETTE = ["#2f6fed", "#e8590c", "#2b8a3e", "#ae3ec9", "#c92a2a", "#0b7285",
                 "#e67700", "#5c7cfa", "#862e9c", "#5f3dc4"];

function show(el, visible) { el.hidden = !visible; }

function setError(message) {
  $("error").textContent = message || "";
  show($("error"), Boolean(message));
}

function choose(file) {
  if (!file) return;
  chosen = file;
  const player = $("player");
  if (player.src) URL.revokeObjectURL(player.src);
  $("file-name").textContent = `${file.name} · ${(file.size / 1024 / 1024).toFixed(1)} MB`;
  show($("preview"), true);
  show($("poster"), false);
  show($("timeline"), false);
  // AVI and other containers many browsers cannot play still predict fine: the server
  // decodes them. Then a frame from the server's answer stands in for the preview.
  needsPoster = !file.type || player.canPlayType(file.type) === "";
  show(player, !needsPoster);
  show($("no-preview"), needsPoster);
  if (!needsPoster) player.src = URL.createObjectURL(file);
  predict();
}

$("player").addEventListener("error", () => {
  if (!chosen || needsPoster) return;
  needsPoster = true;  // canPlayType said maybe, but the codec is not supported
  show($("player"), false);
  show($("no-preview"), true);
  predict();
});

async function predict() {
  if (!chosen) return;
  setError("");
  if (chosen.size > maxBytes) {
    setError(`${chosen.name} is larger than the server's limit of ${app.dataset.maxUploadMb} MB.`);
    return;
  }
  const form = new FormData();
  form.append("file", chosen);
  form.append("topk", "5");
  form.append("preview", needsPoster ? "1" : "0");
  form.append("timeline", "1");  // the server's default window (2 s) and stride (1 s)
  if (modelSelect) form.append("model", modelSelect.value);
  const mine = ++latest;
  const started = performance.now();
  $("status").textContent = "Predicting…";
  $("result").classList.add("busy");
  let response, body;
  try {
    response = await fetch("/api/predict", { method: "POST", body: form });
    body = await response.json();
  } catch (e) {
    body = { error: `The server did not answer (${e.message}).` };
  }
  if (mine !== latest) return;  // another file or model was chosen meanwhile
  $("status").textContent = "";
  $("result").classList.remove("busy");
  if (!response || !response.ok) {
    setError(body.error || `The server answered ${response.status}.`);
    show($("result"), false);
    show($("timeline"), false);
    return;
  }
  render(body, (performance.now() - started) / 1000);
}

function render(body, roundTrip) {
  const bars = $("bars");
  bars.replaceChildren(...body.topk.map((item, i) => {
    const percent = 100 * item.probability;
    const li = document.createElement("li");
    li.className = i === 0 ? "bar top" : "bar";
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = item.class;
    label.title = item.class;
    const track = document.createElement("span");
    track.className = "track";
    const fill = document.createElement("span");
    fill.className = "fill";
    fill.style.width = `${Math.max(percent, 0.5)}%`;
    track.append(fill);
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = `${percent.toFixed(1)}%`;
    li.append(label, track, value);
    return li;
  }));
  $("timing").textContent = `${body.model} · ${body.frames_used} frames · ` +
    `${body.seconds.toFixed(2)} s on the server, ${roundTrip.toFixed(2)} s in all`;
  if (body.preview) {
    $("poster").src = body.preview;
    show($("poster"), true);
    show($("no-preview"), false);
  }
  show($("result"), true);
  renderTimeline(body.timeline ? body.timeline.windows : []);
}

// One band per window, coloured by its top class. A band covers the moments for which its
// window's centre is the nearest (as `har predict --annotate` labels frames): from the
// midpoint with the previous window's centre to the midpoint with the next one's.
function renderTimeline(windows) {
  show($("timeline"), windows.length > 1);  // a short clip is one window: the bars say it all
  if (windows.length < 2) return;
  const total = windows[windows.length - 1].end;
  const centres = windows.map((w) => (w.start + w.end) / 2);
  const colours = new Map();
  for (const w of windows) {
    const name = w.topk[0].class;
    if (!colours.has(name)) colours.set(name, PALETTE[colours.size % PALETTE.length]);
  }
  $("bands").replaceChildren(...windows.map((w, i) => {
    const from = i === 0 ? 0 : (centres[i - 1] + centres[i]) / 2;
    const to = i === windows.length - 1 ? total : (centres[i] + centres[i + 1]) / 2;
    const top = w.topk[0];
    const band = document.createElement("button");
    band.type = "button";
    band.className = "band";
    band.setAttribute("role", "listitem");
    band.dataset.class = top.class;
    band.dataset.start = w.start;
    band.style.left = `${(100 * from) / total}%`;
    band.style.width = `${(100 * (to - from)) / total}%`;
    band.style.background = colours.get(top.class);
    band.title = `${top.class} ${(100 * top.probability).toFixed(1)}% · ` +
      `${w.start.toFixed(1)}–${w.end.toFixed(1)} s`;
    band.setAttribute("aria-label", band.title);
    band.addEventListener("click", () => seek(band, w.start));
    return band;
  }));
  $("timeline-end").textContent = `${total.toFixed(1)} s`;
  $("legend").replaceChildren(...[...colours].map(([name, colour]) => {
    const li = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colour;
    li.append(swatch, name);
    return li;
  }));
}

// Clicking a window plays the video from the window's start (when the browser can play it).
function seek(band, seconds) {
  for (const other of $("bands").children) other.classList.toggle("selected", other === band);
  const player = $("player");
  if (player.hidden || !player.src) return;
  player.currentTime = seconds;
}

$("file").addEventListener("change", (e) => choose(e.target.files[0]));
if (modelSelect) modelSelect.addEventListener("change", predict);

const drop = $("drop");
for (const type of ["dragenter", "dragover"]) {
  drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
}
for (const type of ["dragleave", "drop"]) {
  drop.addEventListener(type, () => drop.classList.remove("over"));
}
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  choose(e.dataTransfer.files[0]);
});
// A file dropped next to the zone must not make the browser navigate away to it.
window.addEventListener("dragover", (e) => e.preventDefault());
window.addEventListener("drop", (e) => e.preventDefault());

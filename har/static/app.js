// The upload page: preview the chosen video, POST it to /api/predict, draw the top classes.
"use strict";

const $ = (id) => document.getElementById(id);
const app = document.querySelector(".app");
const maxBytes = parseFloat(app.dataset.maxUploadMb) * 1024 * 1024;
const modelSelect = $("model");  // absent when the server has one model
let chosen = null;        // the File being shown
let needsPoster = false;  // the browser cannot play it: ask the server for a frame
let latest = 0;           // number of the newest request; older answers are dropped

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

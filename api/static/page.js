// The RewardEdit page: plain JavaScript on the service's own HTTP API, no build step, no CDN.
//
// Every request goes through fetch() so that an API key typed into the page rides along as
// `Authorization: Bearer <key>`; that includes the server-sent events of /jobs/{id}/events, which
// are read from the response stream (EventSource cannot send headers), and the result image.
"use strict";

const FINAL = new Set(["succeeded", "failed", "canceled"]);
const PERSPECTIVES = [
  ["following", "Instruction following"],
  ["preserving", "Detail preserving"],
  ["quality", "Generation quality"],
];
const ADVANCED = [
  ["steps", "Steps (empty: the model's)", "1"],
  ["guidance_scale", "Guidance scale (empty: the model's)", "0.1"],
  ["image_guidance_scale", "Image guidance scale (empty: the model's)", "0.1"],
  ["reward_guidance_scale", "Reward guidance scale (1: off)", "0.1"],
  ["seed", "Seed (empty: random)", "1"],
  ["max_side", "Max side, px", "1"],
];
const HISTORY_KEY = "rewardedit.history";
const API_KEY_KEY = "rewardedit.apiKey";
const THUMB_SIDE = 96;
const RECONNECT_MS = 1000;
const STATUS_EVERY_MS = 30000;

const $ = (id) => document.getElementById(id);
const schema = JSON.parse($("form-schema").textContent);
const form = $("edit-form");
const sources = new Map(); // job id -> the source it was submitted with (this page's lifetime)

let source = null; // {blob, name, thumb}: what the next submission edits
let shown = null; // the job on display
let following = null; // AbortController of the job being followed
let suggested = false; // the instruction field holds a sample's suggestion, not the user's own words

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null) node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const score = (value) => Number(value).toFixed(1);

// --- the API --------------------------------------------------------------------------------

async function api(path, options = {}) {
  const headers = new Headers(options.headers);
  const key = $("api-key").value.trim();
  if (key) headers.set("Authorization", `Bearer ${key}`);
  let response;
  try {
    response = await fetch(path, { ...options, headers });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "network_error", `cannot reach the service (${error.message})`);
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: a proxy's error page; fall back to the status line
  }
  const error = body && body.error;
  if (error && error.code) return new ApiError(response.status, error.code, error.message);
  return new ApiError(response.status, `http_${response.status}`, response.statusText || "request failed");
}

function showError(error, prefix = "") {
  if (error.name === "AbortError") return;
  const box = $("error");
  const status = error.status ? ` (HTTP ${error.status})` : "";
  box.replaceChildren(prefix, el("code", {}, error.code || "error"), `: ${error.message}${status}`);
  box.hidden = false;
  if (error.status === 401) $("key-settings").open = true;
}

function hideError() {
  $("error").hidden = true;
}

// --- the form, built from the POST /edit schema ----------------------------------------------

function bounds(name) {
  const spec = schema[name] || {};
  const typed = (spec.anyOf || [spec]).find((option) => option.type && option.type !== "null") || spec;
  const max = typed.maximum === undefined ? undefined : Math.min(typed.maximum, Number.MAX_SAFE_INTEGER);
  return { min: typed.minimum, max, maxLength: typed.maxLength, value: spec.default };
}

function buildForm() {
  $("field-instruction").maxLength = bounds("instruction").maxLength;
  for (const [name, label] of PERSPECTIVES) {
    const { min, max, value } = bounds(name);
    const slider = el("input", { type: "range", name, id: `field-${name}`, min, max, step: "0.5", value });
    const output = el("output", { for: slider.id }, score(value));
    slider.addEventListener("input", () => (output.textContent = score(slider.value)));
    const text = bounds(`${name}_text`);
    const textField = el("input", {
      type: "text",
      name: `${name}_text`,
      id: `field-${name}_text`,
      maxlength: text.maxLength,
      value: text.value,
    });
    $("rewards").append(
      el("label", { for: slider.id }, label),
      slider,
      output,
      el("label", { class: "text", for: textField.id }, "what should be wrong", textField),
    );
  }
  for (const [name, label, step] of ADVANCED) {
    const { min, max, value } = bounds(name);
    const input = el("input", { type: "number", name, id: `field-${name}`, min, max, step, value });
    $("advanced").append(el("label", {}, label, input));
  }
  const samplers = schema.scheduler.anyOf.find((option) => option.enum).enum;
  const sampler = el(
    "select",
    { name: "scheduler", id: "field-scheduler" },
    el("option", { value: "" }, "the model's own"),
    ...samplers.map((name) => el("option", { value: name }, name)),
  );
  $("advanced").append(el("label", {}, "Sampler", sampler));
}

function fillForm(params) {
  for (const [name, value] of Object.entries(params)) {
    const field = form.elements.namedItem(name);
    if (!field || name === "seed") continue;
    field.value = value ?? "";
    field.dispatchEvent(new Event("input"));
  }
}

function formFields(seed) {
  const fields = new FormData();
  for (const field of form.elements) {
    if (field.name && field.value.trim() !== "") fields.set(field.name, field.value);
  }
  if (seed !== undefined) fields.set("seed", String(seed));
  return fields;
}

// --- images ---------------------------------------------------------------------------------

function setImage(img, blobOrUrl) {
  if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
  img.src = blobOrUrl instanceof Blob ? URL.createObjectURL(blobOrUrl) : blobOrUrl;
  img.hidden = false;
}

async function thumbnail(blob) {
  try {
    const bitmap = await createImageBitmap(blob);
    const scale = THUMB_SIDE / Math.max(bitmap.width, bitmap.height);
    const canvas = el("canvas", {
      width: Math.max(1, Math.round(bitmap.width * scale)),
      height: Math.max(1, Math.round(bitmap.height * scale)),
    });
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    return canvas.toDataURL("image/jpeg", 0.8);
  } catch {
    return null; // the browser cannot decode it; the service will say what is wrong
  }
}

async function setSource(blob, name) {
  source = { blob, name, thumb: await thumbnail(blob) };
  setImage($("source-preview"), blob);
  $("result-image").hidden = true;
  $("job-status").textContent = "Source ready: type an instruction, set the reward, then Edit.";
}

// A suggestion belongs to its source image: a new source replaces it, but never the user's words.
function suggest(instruction = "") {
  const field = $("field-instruction");
  if (!suggested && field.value.trim() !== "") return;
  field.value = instruction;
  suggested = instruction !== "";
}

async function pickSample(button) {
  hideError();
  try {
    const response = await api(button.dataset.src);
    for (const other of document.querySelectorAll(".sample")) other.setAttribute("aria-pressed", "false");
    button.setAttribute("aria-pressed", "true");
    $("image-file").value = "";
    await setSource(await response.blob(), button.dataset.src.split("/").pop());
    suggest(button.dataset.instruction);
  } catch (error) {
    showError(error);
  }
}

// --- jobs -----------------------------------------------------------------------------------

function describe(job) {
  const seed = `seed ${job.seed}`;
  switch (job.status) {
    case "queued":
      return `Queued${job.queue_position ? `, position ${job.queue_position}` : ""} · ${seed}`;
    case "running":
      return `Running: step ${job.progress.step} of ${job.progress.total} · ${seed}`;
    case "succeeded": {
      const seconds = (Date.parse(job.finished_at) - Date.parse(job.started_at)) / 1000;
      return `Done in ${seconds.toFixed(1)} s · ${seed}`;
    }
    default:
      return `${job.status[0].toUpperCase()}${job.status.slice(1)} · ${seed}`;
  }
}

function show(job) {
  shown = job;
  const progress = $("progress");
  progress.max = Math.max(job.progress.total, 1);
  progress.value = job.status === "succeeded" ? progress.max : job.progress.step;
  $("job-status").textContent = describe(job);
  remember(job);
  renderHistory();
}

async function submit(seed) {
  hideError();
  if (!source) {
    showError(new ApiError(0, "no_image", "pick a source image first: upload one or click a sample"));
    return;
  }
  const fields = formFields(seed);
  const seedText = fields.get("seed");
  if (seedText !== null && !(Number.isSafeInteger(Number(seedText)) && Number(seedText) >= 0)) {
    showError(new ApiError(0, "invalid_field", `seed: a whole number from 0 to ${Number.MAX_SAFE_INTEGER}`));
    return;
  }
  fields.set("image", source.blob, source.name);
  try {
    const job = await (await api("/edit", { method: "POST", body: fields })).json();
    sources.set(job.id, source);
    $("result-image").hidden = true;
    await follow(job);
  } catch (error) {
    showError(error);
  }
}

async function follow(job) {
  following?.abort();
  const controller = new AbortController();
  following = controller;
  setBusy(true);
  show(job);
  try {
    while (!FINAL.has(job.status) && !controller.signal.aborted) {
      try {
        job = await readEvents(job, controller.signal);
      } catch (error) {
        if (error instanceof ApiError && error.status) throw error; // 401, 404: retrying cannot help
      }
      if (!FINAL.has(job.status) && !controller.signal.aborted) {
        $("job-status").textContent = `${describe(job)} · connection lost, reconnecting…`;
        await sleep(RECONNECT_MS);
      }
    }
    if (controller.signal.aborted) return;
    if (job.status === "succeeded") {
      setImage($("result-image"), await (await api(job.result_url, { signal: controller.signal })).blob());
    } else if (job.status === "failed" && job.error) {
      showError(new ApiError(0, job.error.code, job.error.message), "The edit failed: ");
    }
  } finally {
    if (following === controller) {
      following = null;
      setBusy(false);
    }
  }
}

// The job JSON of each server-sent event, until the stream ends (the job finished, or it dropped).
async function readEvents(job, signal) {
  const response = await api(`/jobs/${job.id}/events`, { signal, headers: { Accept: "text/event-stream" } });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return job;
    buffer += value.replaceAll("\r\n", "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const data = buffer
        .slice(0, end)
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trimStart())
        .join("\n");
      buffer = buffer.slice(end + 2);
      if (data) {
        job = JSON.parse(data);
        show(job);
      }
    }
  }
}

function setBusy(busy) {
  $("submit").disabled = busy;
  $("rerun").disabled = busy || !shown;
  $("cancel").hidden = !busy;
}

async function cancelShown() {
  try {
    show(await (await api(`/jobs/${shown.id}`, { method: "DELETE" })).json());
  } catch (error) {
    showError(error);
  }
}

async function openJob(id) {
  hideError();
  try {
    const job = await (await api(`/jobs/${id}`)).json();
    fillForm(job.params);
    const kept = sources.get(id);
    source = kept || null; // a source from before a reload is gone: pick it again to rerun
    const entry = loadHistory().find((item) => item.id === id);
    if (kept) setImage($("source-preview"), kept.blob);
    else if (entry && entry.thumb) setImage($("source-preview"), entry.thumb);
    $("result-image").hidden = true;
    await follow(job);
  } catch (error) {
    showError(error);
  }
}

// --- this browser session's history (sessionStorage) ------------------------------------------

function loadHistory() {
  try {
    return JSON.parse(sessionStorage.getItem(HISTORY_KEY)) || [];
  } catch {
    return [];
  }
}

function remember(job) {
  const history = loadHistory();
  const old = history.find((item) => item.id === job.id);
  if (old && old.status === job.status) return;
  const entry = {
    id: job.id,
    status: job.status,
    seed: job.seed,
    instruction: job.params.instruction,
    scores: PERSPECTIVES.map(([name]) => job.params[name]),
    thumb: old ? old.thumb : (sources.get(job.id) || {}).thumb || null,
  };
  const updated = old ? history.map((item) => (item.id === job.id ? entry : item)) : [entry, ...history];
  try {
    sessionStorage.setItem(HISTORY_KEY, JSON.stringify(updated));
  } catch {
    // storage full: keep the list, drop the thumbnails
    sessionStorage.setItem(HISTORY_KEY, JSON.stringify(updated.map((item) => ({ ...item, thumb: null }))));
  }
}

function renderHistory() {
  const items = loadHistory().map((entry) => {
    const [f, p, q] = entry.scores.map(score);
    const button = el(
      "button",
      { type: "button", "aria-current": String(Boolean(shown && shown.id === entry.id)) },
      entry.thumb ? el("img", { src: entry.thumb, alt: "" }) : el("span"),
      el("span", {}, entry.instruction, el("br"), el("span", { class: "meta" }, `F ${f} · P ${p} · Q ${q} · seed ${entry.seed}`)),
      el("span", { class: `state ${entry.status}` }, entry.status),
    );
    button.addEventListener("click", () => openJob(entry.id));
    return el("li", { "data-job": entry.id }, button);
  });
  $("history").replaceChildren(...items);
}

// --- the service's state ----------------------------------------------------------------------

// An empty steps or guidance field asks for the served model's own setting: show it greyed out.
function showModelDefaults(models) {
  const sampling = (models.find((model) => model.sampling) || {}).sampling || {};
  for (const [name, value] of Object.entries(sampling)) {
    const field = form.elements.namedItem(name);
    if (field) field.placeholder = String(value);
  }
}

async function refreshStatus() {
  const status = $("service-status");
  try {
    const health = await (await api("/healthz")).json();
    showModelDefaults(health.models);
    const notices = $("notices");
    if (!health.notice) notices.replaceChildren();
    else if (notices.textContent.trim() !== health.notice) notices.replaceChildren(el("p", { class: "notice" }, health.notice));
    const ready = await (await api("/readyz")).json();
    status.textContent = `${health.mode} mode · ready · ${ready.workers} worker${ready.workers === 1 ? "" : "s"}`;
    status.classList.remove("bad");
  } catch (error) {
    status.textContent = `not ready: ${error.message}`;
    status.classList.add("bad");
  }
}

// --- wiring -----------------------------------------------------------------------------------

buildForm();
$("api-key").value = sessionStorage.getItem(API_KEY_KEY) || "";
$("api-key").addEventListener("input", (event) => sessionStorage.setItem(API_KEY_KEY, event.target.value.trim()));
$("image-file").addEventListener("change", (event) => {
  const [file] = event.target.files;
  if (!file) return;
  hideError();
  for (const button of document.querySelectorAll(".sample")) button.setAttribute("aria-pressed", "false");
  suggest();
  setSource(file, file.name);
});
$("field-instruction").addEventListener("input", () => (suggested = false));
// Images smaller than their frame (the 64 px synthetic scenes, their edits) keep hard pixel edges.
for (const img of document.querySelectorAll(".frame img")) {
  img.addEventListener("load", () => {
    const scale = Math.min(img.clientWidth / img.naturalWidth, img.clientHeight / img.naturalHeight);
    img.classList.toggle("upscaled", scale > 1);
  });
}
for (const button of document.querySelectorAll(".sample")) {
  button.setAttribute("aria-pressed", "false");
  button.addEventListener("click", () => pickSample(button));
}
form.addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
});
$("rerun").addEventListener("click", () => submit(shown.seed));
$("cancel").addEventListener("click", cancelShown);
renderHistory();
refreshStatus();
setInterval(refreshStatus, STATUS_EVERY_MS);

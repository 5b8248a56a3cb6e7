// The viewer page: connects to the runtime that served it, plays the model's tracks,
// builds command forms, logs model messages, shows live stats, sends webcam/mic.

import { Connection, HttpError, ServerGone } from "./connection.js";
import { commandsFromSchema, renderCommands } from "./controls.js";
import { el, icon } from "./dom.js";
import { FrameMetadataStore, followFrames } from "./frame_metadata.js";
import { renderStatsTable, StatsSampler } from "./stats.js";

const LOG_LIMIT = 200;
const STATS_EVERY_MS = 1000;
const PROBLEMS = new Set(["failed", "ended", "error", "busy", "interrupted", "unauthorized"]);
const FINISHED = new Set(["failed", "ended", "error", "busy", "closed", "unauthorized"]);
const ICONS = { video: "camera", audio: "mic" };

const $ = (id) => document.getElementById(id);
// The access token rides in the fragment (`/#token=…`): browsers never send it to the server.
// Not URLSearchParams: it would turn a token's "+" into a space.
function tokenInAddress() {
  const found = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  try {
    return found ? decodeURIComponent(found[1]) : null;
  } catch {
    return found[1];
  }
}
// Served under a path (a fleet gateway's /l/<slot>/), the runtime's routes are under it too.
const base = location.origin + location.pathname.replace(/\/[^/]*$/, "");
const connection = new Connection(base, tokenInAddress());
// A handle for people poking at the page from devtools, and for the browser tests.
const frameMetadata = new FrameMetadataStore();
const page = (window.reactorPage = { connection, stats: null, messages: 0, muted: false, frameMetadata });
const statCells = renderStatsTable($("stats"));
let sampler = null;
let localTracks = [];

// connection state ------------------------------------------------------------------

connection.addEventListener("state", ({ detail: { state, message } }) => {
  const badge = $("state");
  badge.textContent = state;
  badge.dataset.state = state;
  $("state-detail").textContent = state === "connected" ? "" : message;
  document.body.dataset.state = state;
  const banner = $("banner");
  banner.hidden = !PROBLEMS.has(state);
  banner.className = `banner ${state === "interrupted" ? "warn" : "error"}`;
  banner.textContent = message;
  $("reconnect").classList.toggle("primary", PROBLEMS.has(state) || state === "closed");
  for (const button of document.querySelectorAll("[data-input]")) button.disabled = state !== "connected";
  if (state === "connected") sampler = new StatsSampler(connection.pc);
  if (FINISHED.has(state)) stopMedia();
});

// Nothing flows any more: stop the camera, drop frozen pictures and stale numbers.
function stopMedia() {
  sampler = null;
  page.stats = null;
  renderInputs(connection.descriptor?.capabilities?.tracks ?? []);
  $("screens").replaceChildren();
  $("audio-sinks").replaceChildren();
  updateSound();
  for (const cell of Object.values(statCells)) cell.textContent = "–";
}

async function connect() {
  $("reconnect").disabled = true;
  try {
    await connection.connect();
  } catch (error) {
    connection.generation++; // a failed attempt must not keep reporting on its own
    connection.closePeer();
    connection.setState(...explain(error));
  } finally {
    $("reconnect").disabled = false;
  }
}

function explain(error) {
  if (error instanceof HttpError && error.status === 401) {
    const how = `open this page as ${location.origin}/#token=YOUR_TOKEN (a token given to reactor run --token)`;
    if (!connection.token) return ["unauthorized", `This runtime needs an access token: ${how}.`];
    return ["unauthorized", `The access token in this page's address was not accepted: ${how}, then press Reconnect.`];
  }
  if (error instanceof ServerGone) return ["failed", `The runtime is gone: ${error.message}. Start it again, then press Reconnect.`];
  if (error instanceof HttpError && (error.status === 409 || error.status === 503)) {
    return ["busy", `The session is busy: ${error.detail} (HTTP ${error.status}). Press Reconnect to try again.`];
  }
  if (error instanceof HttpError) return ["error", `The runtime refused: ${error.detail} (HTTP ${error.status}).`];
  return ["error", `Could not connect: ${error.message}`];
}

$("reconnect").addEventListener("click", connect);
// A token pasted into the address takes effect on the next (re)connect.
addEventListener("hashchange", () => (connection.token = tokenInAddress()));
// Closing the peer on the way out lets the runtime see the viewer leave at once.
addEventListener("pagehide", () => connection.close());

// descriptor: name, commands, inputs -----------------------------------------------

connection.addEventListener("descriptor", ({ detail: descriptor }) => {
  const name = descriptor.model?.name ?? "model";
  $("model-name").textContent = name;
  const version = descriptor.model?.version ?? "";
  $("model-version").textContent = /^\d/.test(version) ? `v${version}` : version;
  document.title = `${name} · reactor runtime`;
  $("screens").replaceChildren();
  $("audio-sinks").replaceChildren();
  updateSound();
  loadCommands(descriptor.capabilities?.commands ?? []);
  renderInputs(descriptor.capabilities?.tracks ?? []);
});

// The runtime's own list wins over the descriptor's: it is what the model answers to now.
connection.addEventListener("capabilities", ({ detail: commands }) => loadCommands(commands));

// The forms follow the published contract, the document every client reads; the
// capability list stands in when it cannot be fetched.
async function loadCommands(fallback) {
  try {
    showCommands(commandsFromSchema(await (await connection.http("GET", "/schema")).json()));
  } catch {
    showCommands(fallback);
  }
}

let shownCommands = null;
function showCommands(commands) {
  // Rebuilding identical forms would wipe what the user is typing and any reply shown.
  const key = JSON.stringify(commands);
  if (key === shownCommands) return;
  shownCommands = key;
  renderCommands($("commands"), commands, send);
}

const send = (name, args) => connection.command(name, args);

// output media -------------------------------------------------------------------------

connection.addEventListener("track", ({ detail }) => (detail.kind === "video" ? addVideo(detail) : addAudio(detail)));
connection.addEventListener("frameMetadata", ({ detail }) => frameMetadata.add(detail));

function addVideo({ name, track }) {
  const video = el("video", { autoplay: true, playsinline: true, muted: true, "data-track": name, "aria-label": `${name}, model output` });
  video.muted = true;
  video.srcObject = new MediaStream([track]);
  const size = el("span", { class: "muted" });
  video.addEventListener("resize", () => {
    size.textContent = ` · ${video.videoWidth}×${video.videoHeight}`;
    video.style.aspectRatio = `${video.videoWidth} / ${video.videoHeight}`;
  });
  const tags = el("span", { class: "muted frame-metadata" });
  $("screens").append(el("figure", { class: "tile" }, video, el("figcaption", {}, name, size, tags)));
  followFrames(video, name, frameMetadata, tags);
  play(video, () => ($("start-media").hidden = false));
}

function addAudio({ name, track }) {
  const audio = el("audio", { autoplay: true, "data-track": name });
  audio.srcObject = new MediaStream([track]);
  audio.muted = page.muted;
  $("audio-sinks").append(audio);
  // Autoplay with sound needs a user gesture in most browsers: play muted and offer Unmute.
  play(audio, () => {
    page.muted = audio.muted = true;
    play(audio, () => {});
    updateSound(true);
  });
  updateSound();
}

function play(media, onBlocked) {
  media.play().catch((error) => error.name === "NotAllowedError" && onBlocked());
}

function updateSound(blocked = false) {
  const sinks = [...$("audio-sinks").children];
  const button = $("sound");
  button.hidden = !sinks.length;
  button.replaceChildren(icon(page.muted ? "muted" : "sound"), page.muted ? " Unmute" : " Mute");
  button.setAttribute("aria-pressed", String(!page.muted));
  button.classList.toggle("primary", page.muted);
  if (blocked) button.title = "The browser blocked sound until you click";
}

$("sound").addEventListener("click", () => {
  page.muted = !page.muted;
  for (const audio of $("audio-sinks").children) {
    audio.muted = page.muted;
    play(audio, () => {});
  }
  updateSound();
});

$("start-media").prepend(icon("play"), " ");
$("start-media").addEventListener("click", () => {
  for (const media of document.querySelectorAll("#screens video, #audio-sinks audio")) play(media, () => {});
  $("start-media").hidden = true;
});

// inputs: webcam / microphone -------------------------------------------------------------

function renderInputs(tracks) {
  for (const track of localTracks) track.stop();
  localTracks = [];
  const inputs = tracks.filter((t) => t.direction === "sendonly");
  $("inputs-panel").hidden = !inputs.length;
  $("inputs").replaceChildren(...inputs.map(inputToggle));
}

function inputToggle({ name, kind }) {
  const button = el("button", { type: "button", class: "toggle", "aria-pressed": "false", "data-input": name, disabled: true }, icon(ICONS[kind]), ` ${name}`);
  const status = el("span", { class: "muted input-status", role: "status" }, `${kind} input · off`);
  const preview = kind === "video" ? el("video", { class: "preview", autoplay: true, playsinline: true, muted: true, hidden: true, "aria-label": `${name} preview` }) : null;
  let local = null;
  const stop = () => {
    local?.stop();
    localTracks = localTracks.filter((t) => t !== local);
    local = null;
    if (preview) preview.hidden = true;
  };
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      if (local) {
        stop();
        await connection.publish(name, null);
        status.textContent = `${kind} input · off`;
      } else {
        if (!navigator.mediaDevices?.getUserMedia) {
          throw new Error("camera and microphone need a secure context (https:// or localhost)");
        }
        const stream = await navigator.mediaDevices.getUserMedia({ [kind]: true });
        local = stream.getTracks()[0];
        localTracks.push(local);
        await connection.publish(name, local);
        const s = local.getSettings();
        status.textContent = kind === "video" ? `sending · ${s.width}×${s.height}` : "sending";
        if (preview) {
          preview.srcObject = stream;
          preview.hidden = false;
        }
      }
    } catch (error) {
      stop();
      status.textContent = `✗ ${error.message}`;
    } finally {
      button.disabled = connection.state !== "connected";
      button.setAttribute("aria-pressed", String(Boolean(local)));
    }
  });
  return el("div", { class: "input" }, el("div", { class: "input-row" }, button, status), preview);
}

// message log -----------------------------------------------------------------------------

connection.addEventListener("message", ({ detail: { scope, type, data } }) => {
  // Capabilities become the forms, publish replies the input status: not news for the log.
  if (scope === "runtime" && (type === "modelCapabilities" || type === "publishTrack")) return;
  page.messages++;
  const log = $("log");
  const time = new Date().toLocaleTimeString([], { hour12: false });
  log.prepend(
    el(
      "li",
      { class: `entry ${scope}`, "data-type": type },
      el("div", { class: "entry-head" }, el("span", { class: "type" }, type), scope === "runtime" ? el("span", { class: "tag" }, "runtime") : null, el("time", {}, time)),
      el("code", { class: "json" }, JSON.stringify(data)),
    ),
  );
  while (log.children.length > LOG_LIMIT) log.lastChild.remove();
  $("log-count").textContent = String(log.children.length);
});

$("log-clear").addEventListener("click", () => {
  $("log").replaceChildren();
  $("log-count").textContent = "0";
});

// live stats --------------------------------------------------------------------------

setInterval(async () => {
  if (!sampler || connection.pc !== sampler.pc || connection.state !== "connected") return;
  try {
    const sample = await sampler.sample();
    page.stats = sample.raw;
    for (const [key, cell] of Object.entries(statCells)) cell.textContent = sample[key];
  } catch {
    // The peer closed between the check and getStats; the next tick sees the new state.
  }
}, STATS_EVERY_MS);

connect();

#!/usr/bin/env node
/**
 * Drive the official JS SDK (@reactor-team/js-sdk 2.9.0) from Node against a
 * local runtime, with @roamhq/wrtc 0.8.0 standing in for the browser's WebRTC.
 *
 * Run it inside the test's network namespace (libwebrtc gathers no loopback
 * candidates), after `npm ci` in this folder:
 *
 *   node js_sdk_client.mjs --url http://10.77.0.1:8080 --command set_prompt \
 *     --args '{"prompt": "a forest"}' --publish-track webcam --seconds 5
 *
 * It connects in local mode, waits for `ready`, asks for the model's
 * capabilities (runtime `requestCapabilities`; JS 2.9.0 has no schema call),
 * sends the command, publishes a synthetic I420 test pattern into
 * --publish-track, counts frames on every received track for --seconds,
 * disconnects, and prints exactly ONE JSON line on stdout (keys: see
 * ../README.md). Failures go in that line under "error" (exit status 1); it
 * never runs past --timeout. The SDK's console output is sent to stderr.
 */

import wrtc from "@roamhq/wrtc";

const { RTCVideoSink, RTCAudioSink, RTCVideoSource, RTCAudioSource } = wrtc.nonstandard;
const SDK_VERSION = "2.9.0";
const PUBLISH_FPS = 30;
const REPLY_TIMEOUT_MS = 10000;

// The SDK logs with console.debug/info/log, which Node writes to stdout.
for (const level of ["log", "debug", "info", "warn", "error", "trace"]) {
  console[level] = (...args) => process.stderr.write(`[${level}] ${args.map(fmt).join(" ")}\n`);
}
function fmt(v) {
  if (typeof v === "string") return v;
  if (v instanceof Error) return v.stack ?? String(v);
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

// What the SDK expects a browser to provide. Node 20 already has fetch,
// AbortController, TextEncoder and performance.
Object.assign(globalThis, {
  RTCPeerConnection: wrtc.RTCPeerConnection,
  RTCSessionDescription: wrtc.RTCSessionDescription,
  RTCIceCandidate: wrtc.RTCIceCandidate,
  MediaStream: wrtc.MediaStream,
  MediaStreamTrack: wrtc.MediaStreamTrack,
});

function parseArgs(argv) {
  const opts = {
    url: "http://10.77.0.1:8080",
    model: "local",
    jwt: null,
    command: null,
    args: {},
    publishTrack: null,
    publishSeconds: 3,
    seconds: 5,
    connectTimeout: 30,
    timeout: 60,
  };
  const names = {
    "--url": ["url", String],
    "--model": ["model", String],
    "--jwt": ["jwt", String],
    "--command": ["command", String],
    "--args": ["args", JSON.parse],
    "--publish-track": ["publishTrack", String],
    "--publish-seconds": ["publishSeconds", Number],
    "--seconds": ["seconds", Number],
    "--connect-timeout": ["connectTimeout", Number],
    "--timeout": ["timeout", Number],
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, inline] = argv[i].split(/=(.*)/s);
    const spec = names[flag];
    if (!spec) throw new Error(`unknown option ${flag}`);
    const raw = inline ?? argv[i + 1];
    if (inline !== undefined) i -= 1;
    opts[spec[0]] = spec[1](raw);
  }
  return opts;
}

const t0 = performance.now();
const ms = () => Math.round((performance.now() - t0) * 10) / 10;
const sleep = (n) => new Promise((resolve) => setTimeout(resolve, n));
function describe(e) {
  if (!(e instanceof Error)) return fmt(e);
  const cause = e.cause instanceof Error ? ` (${e.cause.code ?? e.cause.name}: ${e.cause.message})` : "";
  return `${e.name}: ${e.message}${cause}`;
}

const doc = {
  sdk: "js",
  sdk_version: SDK_VERSION,
  url: null,
  ok: false,
  error: null,
  http: [],
  status_history: [],
  connect_ms: null,
  session_id: null,
  tracks_declared: [],
  tracks_received: [],
  recv: {},
  command: null,
  messages: [],
  runtime_messages: [],
  schema: null,
  publish: null,
  errors: [],
  disconnect: null,
  elapsed_ms: null,
};
let printed = false;
function emitAndExit() {
  if (printed) return;
  printed = true;
  doc.elapsed_ms = ms();
  process.stdout.write(`${JSON.stringify(doc)}\n`, () => process.exit(doc.ok ? 0 : 1));
}

// Record every HTTP call the SDK makes, in order.
const realFetch = globalThis.fetch;
globalThis.fetch = async (input, init = {}) => {
  const entry = { method: init.method ?? "GET", path: new URL(String(input)).pathname, ms: ms() };
  doc.http.push(entry);
  try {
    const response = await realFetch(input, init);
    entry.status = response.status;
    return response;
  } catch (e) {
    entry.error = describe(e);
    throw e;
  }
};

const sinks = [];
function watchTrack(name, track) {
  const entry = { kind: track.kind, frames: 0, first_frame_ms: null, last_frame_ms: null };
  doc.recv[name] = entry;
  if (track.kind === "video") {
    Object.assign(entry, { width: null, height: null });
    const sink = new RTCVideoSink(track);
    sink.onframe = ({ frame }) => {
      entry.frames += 1;
      entry.width = frame.width;
      entry.height = frame.height;
      entry.first_frame_ms ??= ms();
      entry.last_frame_ms = ms();
    };
    sinks.push(sink);
  } else {
    Object.assign(entry, { samples: 0, sample_rate: null, channels: null, max_abs_sample: 0 });
    const sink = new RTCAudioSink(track);
    sink.ondata = (data) => {
      let peak = 0;
      for (const s of data.samples) peak = Math.max(peak, Math.abs(s));
      entry.frames += 1;
      entry.samples += data.numberOfFrames;
      entry.sample_rate = data.sampleRate;
      entry.channels = data.channelCount;
      entry.max_abs_sample = Math.max(entry.max_abs_sample, peak);
      entry.first_frame_ms ??= ms();
      entry.last_frame_ms = ms();
    };
    sinks.push(sink);
  }
}

/** Resolve with the first value `pick` returns non-undefined for, or reject after `limit` ms. */
function waitFor(reactor, event, pick, limit) {
  return new Promise((resolve, reject) => {
    const handler = (...args) => {
      const value = pick(...args);
      if (value === undefined) return;
      clearTimeout(timer);
      reactor.off(event, handler);
      resolve(value);
    };
    const timer = setTimeout(() => {
      reactor.off(event, handler);
      reject(new Error(`timeout: no ${event} within ${limit} ms`));
    }, limit);
    reactor.on(event, handler);
  });
}

async function publish(reactor, name, kind, seconds) {
  const info = { track: name, kind, ok: false, frames_pushed: 0, error: null };
  doc.publish = info;
  const errorsBefore = doc.errors.length;
  try {
    let track;
    let push;
    if (kind === "audio") {
      const source = new RTCAudioSource();
      track = source.createTrack();
      let n = 0;
      push = () => {
        const samples = new Int16Array(480); // 10 ms at 48 kHz
        for (let i = 0; i < samples.length; i += 1, n += 1) {
          samples[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * n) / 48000));
        }
        source.onData({ samples, sampleRate: 48000, bitsPerSample: 16, channelCount: 1 });
      };
    } else {
      const source = new RTCVideoSource();
      track = source.createTrack();
      const [width, height] = [320, 240];
      Object.assign(info, { width, height });
      let i = 0;
      push = () => {
        const data = new Uint8ClampedArray((width * height * 3) / 2);
        const x = (i * 4) % width;
        for (let y = 0; y < height; y += 1) {
          for (let c = 0; c < width; c += 1) {
            data[y * width + c] = c >= x && c < x + 8 ? 255 : (c + i * 8) % 256;
          }
        }
        data.fill(128, width * height); // neutral chroma
        source.onFrame({ width, height, data });
        i += 1;
      };
    }
    const started = performance.now();
    await reactor.publishTrack(name, track);
    info.publish_ms = Math.round(performance.now() - started);
    const failed = doc.errors.slice(errorsBefore).find((e) => e.code === "TRACK_PUBLISH_FAILED");
    if (failed) throw new Error(failed.message);
    const period = kind === "audio" ? 10 : 1000 / PUBLISH_FPS;
    const end = performance.now() + seconds * 1000;
    while (performance.now() < end) {
      push();
      info.frames_pushed += 1;
      await sleep(period);
    }
    info.ok = true;
    await reactor.unpublishTrack(name);
    track.stop();
  } catch (e) {
    info.error = describe(e);
  }
}

async function run(opts) {
  const { Reactor } = await import("@reactor-team/js-sdk");
  doc.url = opts.url;
  // With --jwt: cloud mode, --url is a coordinator (our fleet's gateway).
  const reactor = new Reactor({ modelName: opts.model, local: !opts.jwt, apiUrl: opts.url });
  const declared = new Map();
  reactor.on("statusChanged", (s) => doc.status_history.push([s, ms()]));
  reactor.on("sessionIdChanged", (id) => {
    if (id) doc.session_id = id;
  });
  reactor.on("error", (e) => doc.errors.push({ ...e, ms: ms() }));
  reactor.on("message", (m) => doc.messages.push({ msg: m, ms: ms() }));
  reactor.on("runtimeMessage", (m) => doc.runtime_messages.push({ msg: m, ms: ms() }));
  reactor.on("capabilitiesReceived", (caps) => {
    doc.tracks_declared = caps?.tracks ?? [];
    for (const t of doc.tracks_declared) declared.set(t.name, t);
  });
  reactor.on("trackReceived", (name, track) => {
    doc.tracks_received.push({ name, kind: track.kind, ms: ms() });
    if (!(name in doc.recv)) watchTrack(name, track);
  });

  try {
    const started = performance.now();
    const ready = waitFor(reactor, "statusChanged", (s) => (s === "ready" ? s : undefined),
      opts.connectTimeout * 1000);
    ready.catch(() => {});
    // resolves once the answer is applied, before `ready`
    await (opts.jwt ? reactor.connect(opts.jwt) : reactor.connect());
    await ready;
    doc.connect_ms = Math.round(performance.now() - started);

    const tasks = [];
    if (opts.publishTrack) {
      const kind = declared.get(opts.publishTrack)?.kind ?? "video";
      tasks.push(publish(reactor, opts.publishTrack, kind, opts.publishSeconds));
    }
    const capsStarted = performance.now();
    const caps = waitFor(reactor, "runtimeMessage",
      (m) => (m?.type === "modelCapabilities" ? m.data : undefined), REPLY_TIMEOUT_MS);
    await reactor.sendCommand("requestCapabilities", {}, "runtime");
    doc.schema = await caps.then(
      (reply) => ({ ok: true, via: "requestCapabilities", reply }),
      (e) => ({ ok: false, via: "requestCapabilities", error: describe(e) }),
    );
    doc.schema.ms = Math.round(performance.now() - capsStarted);
    if (opts.command) {
      // v0 commands are fire-and-forget: no reply; model output lands in `messages`.
      const errorsBefore = doc.errors.length;
      await reactor.sendCommand(opts.command, opts.args);
      const failed = doc.errors.slice(errorsBefore).find((e) => e.code === "MESSAGE_SEND_FAILED");
      doc.command = { name: opts.command, args: opts.args, ok: !failed, sent_ms: ms() };
      if (failed) doc.command.error = failed.message;
    }
    await Promise.all(tasks);
    const readyAt = t0 + doc.status_history.find(([s]) => s === "ready")[1];
    await sleep(Math.max(0, opts.seconds * 1000 - (performance.now() - readyAt)));
    doc.ok = reactor.getStatus() === "ready";
    if (!doc.ok) doc.error = `status left ready: ${reactor.getStatus()}`;
  } catch (e) {
    doc.error ??= describe(e);
  } finally {
    for (const sink of sinks) sink.stop();
    const started = performance.now();
    try {
      await Promise.race([
        reactor.disconnect(),
        sleep(REPLY_TIMEOUT_MS).then(() => {
          throw new Error("timeout: disconnect()");
        }),
      ]);
      doc.disconnect = { ok: true };
    } catch (e) {
      doc.disconnect = { ok: false, error: describe(e) };
    }
    doc.disconnect.ms = Math.round(performance.now() - started);
  }
}

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (e) {
  doc.error = `bad arguments: ${describe(e)}`;
  emitAndExit();
}
if (opts) {
  setTimeout(() => {
    doc.error ??= `timeout: the run exceeded ${opts.timeout} s`;
    doc.ok = false;
    emitAndExit();
  }, opts.timeout * 1000);
  run(opts).then(emitAndExit, (e) => {
    doc.error ??= describe(e);
    emitAndExit();
  });
}

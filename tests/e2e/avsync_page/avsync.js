// The A/V sync page: flash and click detectors on remote streams, all on performance.now().
//
// Each probe is one received stream (one video + one audio track in one msid stream):
// a runtime's, reached with the flat v0 routes, or the floor's, an in-page
// RTCPeerConnection loopback of a locally made flash/click stream. Every probe uses
// the same detectors, so Chromium's own receive-path and tap delays cancel out of
// "ours minus floor":
// - video: requestVideoFrameCallback; a frame whose mean brightness crosses 50 % after
//   a dark one is a flash, timed at the callback's expectedDisplayTime;
// - audio: an AudioWorklet on a MediaStreamAudioSourceNode of the remote audio track;
//   a click's context frame is mapped to performance.now() through the context's
//   output timestamp (when that frame is heard).

const HEADERS = {
  "Content-Type": "application/json",
  "Reactor-API-Version": "1",
  "Reactor-WebRTC-Version": "1.0",
};
const SAMPLE_RATE = 48000;
const FLASH_MS = 100;
const LOUD = 0.25;

const state = { ctx: null, probes: {}, offsets: [] };
window.avsync = state;

async function audio() {
  if (state.ctx) return state.ctx;
  const ctx = new AudioContext({ sampleRate: SAMPLE_RATE, latencyHint: "interactive" });
  // Through a blob: Playwright serves this page, and it cannot intercept worklet fetches.
  const code = await (await fetch(new URL("worklets.js", import.meta.url))).text();
  const blob = new Blob([code], { type: "text/javascript" });
  await ctx.audioWorklet.addModule(URL.createObjectURL(blob));
  await ctx.resume();
  state.ctx = ctx;
  // The context-to-page clock offset, sampled often; the median rides out the jitter of
  // the render callbacks that update getOutputTimestamp().
  setInterval(sampleOffset, 20);
  return ctx;
}

function sampleOffset() {
  const stamp = state.ctx.getOutputTimestamp();
  if (!stamp.performanceTime) return;
  state.offsets.push(stamp.performanceTime - stamp.contextTime * 1000);
  if (state.offsets.length > 101) state.offsets.shift();
}

function contextOffset() {
  sampleOffset();
  const sorted = [...state.offsets].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

function probe(label) {
  const p = { label, flashes: [], clicks: [], sync: [], frames: 0, state: "new", element: null };
  state.probes[label] = p;
  return p;
}

function watch(p, stream) {
  const video = document.createElement("video");
  Object.assign(video, { autoplay: true, playsInline: true, muted: false, width: 160, height: 120 });
  video.srcObject = stream;
  document.getElementById("probes").append(video);
  p.element = video;

  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 8;
  const g = canvas.getContext("2d", { willReadFrequently: true });
  let lit = false;
  const onFrame = (_now, meta) => {
    g.drawImage(video, 0, 0, 8, 8);
    const pixels = g.getImageData(0, 0, 8, 8).data;
    let sum = 0;
    for (let i = 0; i < pixels.length; i += 4) sum += pixels[i + 1];
    const bright = sum / (pixels.length / 4) > 128;
    if (bright && !lit) {
      p.flashes.push({
        t: meta.expectedDisplayTime,
        presented: meta.presentationTime,
        captured: meta.captureTime,
        received: meta.receiveTime,
        rtp: meta.rtpTimestamp,
      });
    }
    lit = bright;
    p.frames++;
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);

  const ctx = state.ctx;
  const source = new MediaStreamAudioSourceNode(ctx, {
    mediaStream: new MediaStream(stream.getAudioTracks()),
  });
  const tap = new AudioWorkletNode(ctx, "click-tap", {
    numberOfOutputs: 0,
    processorOptions: { threshold: LOUD, holdoff: SAMPLE_RATE / 2 },
  });
  tap.port.onmessage = ({ data }) => {
    p.clicks.push({ t: (data.frame / ctx.sampleRate) * 1000 + contextOffset(), frame: data.frame });
  };
  source.connect(tap);
  p.tap = tap;
  p.timer = setInterval(() => sampleSync(p), 1000);
}

// Chromium's own view of the probe's lip-sync: the sender-clock times of the video and
// the audio it is playing now (estimatedPlayoutTimestamp). Their difference is what its
// lip-sync loop has left uncorrected (it stops inside a ±30 ms dead band).
async function sampleSync(p) {
  const playout = {};
  (await p.pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.estimatedPlayoutTimestamp) playout[s.kind] = s.estimatedPlayoutTimestamp;
  });
  if (playout.audio && playout.video) p.sync.push({ t: performance.now(), residual: playout.video - playout.audio });
}

async function http(method, url, body) {
  const response = await fetch(url, {
    method,
    headers: HEADERS,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  if (!response.ok) throw new Error(`${method} ${url}: HTTP ${response.status}`);
  return response;
}

function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    });
    setTimeout(resolve, 3000);
  });
}

/** Connect to the runtime at `base` (v0 flat routes) and measure its stream as `label`. */
async function runtime(label, base) {
  const p = probe(label);
  const descriptor = await (await http("POST", `${base}/start_session`, {})).json();
  const transport = `${base}/sessions/${encodeURIComponent(descriptor.session_id)}/transport/webrtc`;
  const pc = new RTCPeerConnection({ iceServers: [] });
  p.pc = pc;
  const tracks = descriptor.capabilities.tracks.filter((t) => t.direction === "recvonly");
  const transceivers = tracks.map((t) => pc.addTransceiver(t.kind, { direction: "recvonly" }));
  pc.createDataChannel("data", { ordered: true });
  const stream = new MediaStream();
  let got = 0;
  pc.ontrack = (event) => {
    stream.addTrack(event.track);
    if (++got === tracks.length) watch(p, event.streams[0] ?? stream);
  };
  pc.onconnectionstatechange = () => (p.state = pc.connectionState);
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  await http("POST", `${transport}/sdp_params`, {
    sdp_offer: pc.localDescription.sdp,
    track_mapping: tracks.map((t, i) => ({
      mid: transceivers[i].mid,
      name: t.name,
      kind: t.kind,
      direction: "recvonly",
    })),
    client_info: { sdk_type: "web", sdk_version: "avsync" },
  });
  for (let wait = 25; ; wait = Math.min(wait * 2, 400)) {
    const response = await http("GET", `${transport}/sdp_params`);
    if (response.status === 200) {
      await pc.setRemoteDescription({ type: "answer", sdp: (await response.json()).sdp_answer });
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/** The floor's source: a canvas flash drawn the moment the worklet renders a click. */
function floorSource(p) {
  const ctx = state.ctx;
  const canvas = document.createElement("canvas");
  canvas.width = 320;
  canvas.height = 240;
  const g = canvas.getContext("2d");
  const video = canvas.captureStream(0).getVideoTracks()[0];
  let flashUntil = 0;
  const draw = () => {
    g.fillStyle = performance.now() < flashUntil ? "#fff" : "#000";
    g.fillRect(0, 0, canvas.width, canvas.height);
    video.requestFrame();
  };
  setInterval(draw, 1000 / 30);
  const source = new AudioWorkletNode(ctx, "click-source", {
    numberOfInputs: 0,
    outputChannelCount: [1],
    processorOptions: { period: ctx.sampleRate, first: Math.round((ctx.currentTime + 0.5) * ctx.sampleRate) },
  });
  p.sent = [];
  source.port.onmessage = ({ data }) => {
    const now = performance.now();
    flashUntil = now + FLASH_MS;
    draw();
    p.sent.push({ drawn: now, heard: (data.frame / ctx.sampleRate) * 1000 + contextOffset() });
  };
  const destination = ctx.createMediaStreamDestination();
  destination.channelCount = 1;
  source.connect(destination);
  return new MediaStream([video, destination.stream.getAudioTracks()[0]]);
}

/** The floor: a locally made flash/click stream sent through an in-page loopback. */
async function floor(label) {
  const p = probe(label);
  const local = floorSource(p);
  state.floorStream = local;
  const sender = new RTCPeerConnection({ iceServers: [] });
  const receiver = new RTCPeerConnection({ iceServers: [] });
  p.pc = receiver;
  sender.onicecandidate = (e) => e.candidate && receiver.addIceCandidate(e.candidate);
  receiver.onicecandidate = (e) => e.candidate && sender.addIceCandidate(e.candidate);
  receiver.onconnectionstatechange = () => (p.state = receiver.connectionState);
  let got = 0;
  receiver.ontrack = (event) => {
    if (++got === 2) watch(p, event.streams[0]);
  };
  for (const track of local.getTracks()) sender.addTrack(track, local);
  await sender.setLocalDescription(await sender.createOffer());
  await receiver.setRemoteDescription(sender.localDescription);
  await receiver.setLocalDescription(await receiver.createAnswer());
  await sender.setRemoteDescription(receiver.localDescription);
}

/** Also send the floor's tracks to the label receiver at `base` (see labels.py). */
state.labelFloor = async (base) => {
  const pc = new RTCPeerConnection({ iceServers: [] });
  state.labelPc = pc;
  for (const track of state.floorStream.getTracks()) pc.addTrack(track, state.floorStream);
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const answer = await (await http("POST", `${base}/offer`, { sdp: pc.localDescription.sdp })).json();
  await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
};

/** Start the floor alone (it settles slower than the runtimes' streams, see harness.py). */
state.startFloor = async () => {
  await audio();
  await floor("floor");
};

/** Close a runtime probe's connection, detectors and element (before reconnecting it). */
function close(p) {
  clearInterval(p.timer);
  p.tap?.disconnect();
  p.element?.remove();
  p.pc?.close();
}

/** (Re)connect to every runtime: `runtimes` is a list of {label, base}; the floor stays. */
state.connect = async (runtimes) => {
  await audio();
  for (const { label } of runtimes) if (state.probes[label]) close(state.probes[label]);
  await Promise.all(runtimes.map(({ label, base }) => runtime(label, base)));
};

/** What a probe measured so far (JSON-safe). */
state.results = () =>
  Object.fromEntries(
    Object.values(state.probes).map((p) => [
      p.label,
      {
        state: p.state,
        frames: p.frames,
        flashes: p.flashes,
        clicks: p.clicks,
        sync: p.sync,
        sent: p.sent ?? [],
      },
    ]),
  );

/** Inbound RTP stats of every probe, for the record. */
state.stats = async () => {
  const out = {};
  for (const p of Object.values(state.probes)) {
    const report = await p.pc.getStats();
    out[p.label] = [];
    report.forEach((s) => {
      if (s.type !== "inbound-rtp") return;
      out[p.label].push({
        kind: s.kind,
        packetsLost: s.packetsLost,
        framesDropped: s.framesDropped,
        framesDecoded: s.framesDecoded,
        jitterBufferDelay: s.jitterBufferDelay,
        jitterBufferEmittedCount: s.jitterBufferEmittedCount,
        codecId: s.codecId,
      });
    });
  }
  return out;
};

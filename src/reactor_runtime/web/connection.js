// One viewer connection to the runtime that served this page: v0 flat signalling
// (WIRE.md §2.2-2.6), one transceiver per descriptor track, one `data` channel (v0 JSON).
// Emits "state", "descriptor", "track", "capabilities", "message" and "frameMetadata" events.
// With a token (`reactor run --token`), every request carries `Authorization: Bearer`.

import { askForMetadata } from "./frame_metadata.js";

const SDK = { sdk_type: "web", sdk_version: "0.1.0" };
const HEADERS = {
  "Content-Type": "application/json",
  "Reactor-API-Version": "1",
  "Reactor-WebRTC-Version": "1.0",
};
const GATHER_TIMEOUT_MS = 3000;
const ANSWER_TIMEOUT_MS = 16000; // the server gives up on an answer after 15 s
const REQUEST_TIMEOUT_MS = 10000;
const PING_EVERY_MS = 5000;
const LOADING_RETRIES = 30;

/** The runtime answered with an HTTP error; `status` and `detail` say which. */
export class HttpError extends Error {
  constructor(status, detail, retryAfter) {
    super(`HTTP ${status}: ${detail}`);
    this.status = status;
    this.detail = detail;
    this.retryAfter = retryAfter;
  }
}

/** The runtime could not be reached at all (stopped, restarted elsewhere, network down). */
export class ServerGone extends Error {}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Connection extends EventTarget {
  constructor(base = location.origin, token = null) {
    super();
    this.base = base.replace(/\/$/, "");
    this.token = token; // sent as a header only, never in a URL
    this.state = "idle";
    this.pc = null;
    this.channel = null;
    this.descriptor = null;
    this.tracks = []; // descriptor tracks, with `mid` once negotiated
    this.pending = new Map(); // request_id -> {resolve, reject, timer}
    this.nextId = 1;
    this.offered = false; // a later offer is a reconnect: PUT replaces our peer
    this.generation = 0;
    this.pinger = null;
  }

  setState(state, message = "") {
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, message } }));
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  async http(method, path, body) {
    let response;
    try {
      response = await fetch(this.base + path, {
        method,
        headers: this.token ? { ...HEADERS, Authorization: `Bearer ${this.token}` } : HEADERS,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch (error) {
      throw new ServerGone(`cannot reach the runtime at ${this.base} (${error.message})`);
    }
    if (!response.ok) {
      let detail = response.statusText;
      try {
        detail = (await response.json()).detail ?? detail;
      } catch {
        // A body that is not JSON still leaves the status text.
      }
      throw new HttpError(response.status, detail, Number(response.headers.get("Retry-After")));
    }
    return response;
  }

  /** Start (or join) the session and negotiate a peer connection. Throws on failure. */
  async connect() {
    const generation = ++this.generation;
    this.closePeer();
    this.setState("starting", "Starting the session…");
    const descriptor = await this.startSession(generation);
    if (generation !== this.generation) return;
    this.descriptor = descriptor;
    this.emit("descriptor", descriptor);
    const sid = encodeURIComponent(descriptor.session_id);
    const transport = `/sessions/${sid}/transport/webrtc`;
    const { ice_servers: servers = [] } = await (await this.http("GET", `${transport}/ice_servers`)).json();
    const iceServers = servers.map((s) => ({
      urls: s.uris,
      username: s.credentials?.username,
      credential: s.credentials?.password,
    }));
    if (generation !== this.generation) return;
    this.setState("negotiating", "Negotiating media…");
    const pc = (this.pc = new RTCPeerConnection({ iceServers }));
    this.tracks = (descriptor.capabilities?.tracks ?? []).map((track) => ({
      ...track,
      transceiver: pc.addTransceiver(track.kind, { direction: track.direction }),
    }));
    this.openChannel(pc.createDataChannel("data", { ordered: true }));
    pc.ontrack = (event) => {
      const track = this.tracks.find((t) => t.transceiver === event.transceiver);
      if (track) this.emit("track", { ...track, track: event.track, stream: event.streams[0] });
    };
    pc.onconnectionstatechange = () => this.onPeerState(pc);
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    if (generation !== this.generation) return;
    const offer = {
      sdp_offer: askForMetadata(pc.localDescription.sdp),
      track_mapping: this.tracks.map(({ name, kind, direction, transceiver }) => ({
        mid: transceiver.mid,
        name,
        kind,
        direction,
      })),
      client_info: SDK,
    };
    await this.http(this.offered ? "PUT" : "POST", `${transport}/sdp_params`, offer);
    this.offered = true;
    const sdp = await this.pollAnswer(`${transport}/sdp_params`, generation);
    if (sdp === null) return;
    await pc.setRemoteDescription({ type: "answer", sdp });
    this.setState("connecting", "Connecting…");
  }

  async startSession(generation) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await (await this.http("POST", "/start_session", {})).json();
      } catch (error) {
        // 503 + Retry-After: the model is still loading; anything else is for the user.
        const loading = error instanceof HttpError && error.status === 503 && error.retryAfter;
        if (!loading || attempt >= LOADING_RETRIES || generation !== this.generation) throw error;
        this.setState("starting", `${error.detail} (retrying in ${error.retryAfter} s)`);
        await sleep(error.retryAfter * 1000);
      }
    }
  }

  async pollAnswer(path, generation) {
    const deadline = performance.now() + ANSWER_TIMEOUT_MS;
    for (let wait = 25; performance.now() < deadline; wait = Math.min(wait * 2, 400)) {
      if (generation !== this.generation) return null;
      const response = await this.http("GET", path);
      if (response.status === 200) return (await response.json()).sdp_answer;
      await sleep(wait);
    }
    throw new Error(`no SDP answer within ${ANSWER_TIMEOUT_MS / 1000} s`);
  }

  openChannel(channel) {
    this.channel = channel;
    channel.onopen = () => {
      this.runtime("requestCapabilities");
      this.pinger = setInterval(() => this.runtime("ping"), PING_EVERY_MS);
      if (this.pc?.connectionState === "connected") this.setState("connected", "Connected");
    };
    channel.onclose = () => clearInterval(this.pinger);
    channel.onmessage = (event) => this.onFrame(event.data);
  }

  onPeerState(pc) {
    if (pc !== this.pc) return;
    const state = pc.connectionState;
    if (state === "connected" && this.channel?.readyState === "open") {
      this.setState("connected", "Connected");
    } else if (state === "disconnected") {
      this.setState("interrupted", "The connection is interrupted; waiting for it to recover…");
    } else if (state === "failed" || state === "closed") {
      this.diagnose(`The connection ${state}.`);
    }
  }

  /** Tell "the server is gone" from "this connection is gone" after a failure. */
  async diagnose(what) {
    if (this.state === "ended" || this.state === "closed") return;
    const generation = this.generation;
    let message;
    try {
      const session = await (await this.http("GET", "/session")).json();
      message = `${what} The runtime is up (session ${session.state}); press Reconnect.`;
    } catch (error) {
      message = error instanceof ServerGone ? `${what} The runtime is gone: ${error.message}.` : `${what} ${error.message}`;
    }
    if (generation === this.generation) this.setState("failed", message);
  }

  onFrame(raw) {
    let envelope;
    try {
      envelope = JSON.parse(raw);
    } catch {
      this.emit("message", { scope: "raw", type: "raw", data: String(raw) });
      return;
    }
    const { scope, data: inner = {} } = envelope;
    const { type, data } = inner;
    const rid = envelope.request_id ?? (type === "commandReply" ? data?.request_id : undefined);
    if (rid !== undefined && this.pending.has(rid)) {
      const { resolve, timer } = this.pending.get(rid);
      clearTimeout(timer);
      this.pending.delete(rid);
      resolve({ type, data });
    }
    if (scope === "runtime" && type === "modelCapabilities") {
      this.emit("capabilities", data?.commands ?? []);
    } else if (scope === "runtime" && type === "sessionEnded") {
      this.generation++; // whatever the peer does next, the ending is the news
      this.setState("ended", `The runtime ended this connection: ${data?.reason ?? "no reason given"}.`);
    }
    if (scope === "runtime" && type === "frameMetadata") {
      this.emit("frameMetadata", data); // ~30 a second: not for the message log
      return;
    }
    if (type !== "commandReply") this.emit("message", { scope, type, data });
  }

  /** Send a raw v0 envelope; false when the channel is not open. */
  send(envelope) {
    if (this.channel?.readyState !== "open") return false;
    this.channel.send(JSON.stringify(envelope));
    return true;
  }

  runtime(type, data = {}) {
    return this.send({ scope: "runtime", data: { type, data } });
  }

  /** Send an envelope with a fresh request_id; resolves with the reply's {type, data}. */
  request(scope, type, data) {
    const request_id = `web-${this.nextId++}`;
    return new Promise((resolve, reject) => {
      if (!this.send({ scope, data: { type, data }, request_id })) {
        reject(new Error("not connected"));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(request_id);
        reject(new Error(`no reply within ${REQUEST_TIMEOUT_MS / 1000} s`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(request_id, { resolve, reject, timer });
    });
  }

  /** Run a model command; resolves with {message, error} from the runtime's commandReply. */
  async command(name, args) {
    const { data } = await this.request("application", name, args);
    return data;
  }

  /** Put a local MediaStreamTrack (or null) on input track `name` and tell the runtime. */
  async publish(name, mediaTrack) {
    const track = this.tracks.find((t) => t.name === name && t.direction === "sendonly");
    if (!track) throw new Error(`${name} is not an input track of this model`);
    await track.transceiver.sender.replaceTrack(mediaTrack);
    if (!mediaTrack) {
      this.runtime("unpublishTrack", { name });
      return null;
    }
    const { data } = await this.request("runtime", "publishTrack", { name });
    if (data?.error) throw new Error(`${data.error.code}: ${data.error.message}`);
    return data;
  }

  closePeer() {
    clearInterval(this.pinger);
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(new Error("connection closed"));
    }
    this.pending.clear();
    this.channel?.close();
    this.pc?.close();
    this.pc = this.channel = null;
  }

  close() {
    this.generation++;
    this.closePeer();
    this.setState("closed", "Disconnected.");
  }
}

function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, GATHER_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

// Live receive statistics from RTCPeerConnection.getStats(), as rates over the last
// sample interval (cumulative counters alone hide what is happening now).

import { el, icon } from "./dom.js";

export const ROWS = [
  ["fps", "Received fps", "Video frames decoded per second over the last second."],
  ["resolution", "Resolution", "Size of the decoded video frames."],
  ["videoBitrate", "Video bitrate", "Received video payload rate over the last second."],
  ["audioBitrate", "Audio bitrate", "Received audio payload rate over the last second."],
  ["rtt", "RTT", "Round-trip time of the selected ICE candidate pair (STUN consent checks)."],
  ["framesDropped", "Frames dropped", "Video frames the browser dropped before display, in total."],
  ["packetsLost", "Packets lost", "RTP packets lost, video + audio, in total."],
  ["videoDelay", "Video buffer", "Average time a video frame waited in the jitter buffer over the last second (jitterBufferDelay / jitterBufferEmittedCount)."],
  ["audioDelay", "Audio buffer", "Average time an audio sample waited in the jitter buffer over the last second."],
  [
    "skew",
    "A/V skew (est.)",
    "Estimate: (video jitter buffer + decode time) − audio jitter buffer delay, over the last second. " +
      "Chromium's lip-sync holds back whichever track runs ahead, so this is how much longer video " +
      "is delayed than audio to line the two up (positive: video is held longer). It reflects a " +
      "sender offset only indirectly and is not the on-screen offset; watch it for jumps or drift " +
      "rather than its exact value.",
  ],
  ["codec", "Codecs", "Negotiated receive codecs (video / audio)."],
];

export function renderStatsTable(container) {
  const cells = {};
  container.replaceChildren(
    ...ROWS.map(([key, label, help]) => {
      cells[key] = el("dd", { "data-stat": key }, "–");
      return el("div", { class: "stat", title: help }, el("dt", {}, label, " ", icon("info")), cells[key]);
    }),
  );
  return cells;
}

export class StatsSampler {
  constructor(pc) {
    this.pc = pc;
    this.previous = null;
  }

  /** One sample: formatted values by ROWS key, plus `raw` counters for programs. */
  async sample() {
    const report = await this.pc.getStats();
    const now = performance.now();
    const video = first(report, (s) => s.type === "inbound-rtp" && s.kind === "video");
    const audio = first(report, (s) => s.type === "inbound-rtp" && s.kind === "audio");
    const pair = selectedPair(report);
    const prev = this.previous;
    const seconds = prev ? (now - prev.at) / 1000 : 0;
    const rate = (current, before) => (seconds > 0 && current != null && before != null ? (current - before) / seconds : null);
    const bits = (current, before) => (rate(current, before) == null ? null : rate(current, before) * 8);
    const ratio = (stat, before, num, den) => {
      if (!stat) return null;
      const dNum = stat[num] - (before?.[num] ?? 0);
      const dDen = stat[den] - (before?.[den] ?? 0);
      return dDen > 0 ? dNum / dDen : null;
    };
    const videoDelay = ratio(video, prev?.video, "jitterBufferDelay", "jitterBufferEmittedCount");
    const decode = ratio(video, prev?.video, "totalDecodeTime", "framesDecoded");
    const audioDelay = ratio(audio, prev?.audio, "jitterBufferDelay", "jitterBufferEmittedCount");
    const raw = {
      framesDecoded: video?.framesDecoded ?? 0,
      framesDropped: video?.framesDropped ?? 0,
      fps: rate(video?.framesDecoded, prev?.video?.framesDecoded),
      videoBitrate: bits(video?.bytesReceived, prev?.video?.bytesReceived),
      audioBitrate: bits(audio?.bytesReceived, prev?.audio?.bytesReceived),
      rtt: pair?.currentRoundTripTime ?? null,
      packetsLost: (video?.packetsLost ?? 0) + (audio?.packetsLost ?? 0),
      videoDelay,
      audioDelay,
      skew: videoDelay != null && audioDelay != null ? videoDelay + (decode ?? 0) - audioDelay : null,
      width: video?.frameWidth ?? 0,
      height: video?.frameHeight ?? 0,
      audioSamples: audio?.totalSamplesReceived ?? 0,
      audioEnergy: audio?.totalAudioEnergy ?? 0,
    };
    this.previous = { at: now, video, audio };
    const codecs = [video, audio].map((s) => report.get(s?.codecId)?.mimeType?.split("/")[1] ?? "–");
    return {
      raw,
      fps: raw.fps == null ? "–" : raw.fps.toFixed(1),
      resolution: raw.width ? `${raw.width}×${raw.height}` : "–",
      videoBitrate: bitrate(raw.videoBitrate),
      audioBitrate: bitrate(raw.audioBitrate),
      rtt: ms(raw.rtt),
      framesDropped: String(raw.framesDropped),
      packetsLost: String(raw.packetsLost),
      videoDelay: ms(raw.videoDelay),
      audioDelay: ms(raw.audioDelay),
      skew: raw.skew == null ? "–" : `${raw.skew >= 0 ? "+" : ""}${(raw.skew * 1000).toFixed(0)} ms`,
      codec: codecs.join(" / "),
    };
  }
}

function first(report, predicate) {
  for (const stat of report.values()) if (predicate(stat)) return stat;
  return null;
}

function selectedPair(report) {
  const transport = first(report, (s) => s.type === "transport" && s.selectedCandidatePairId);
  if (transport) return report.get(transport.selectedCandidatePairId);
  return first(report, (s) => s.type === "candidate-pair" && s.nominated && s.state === "succeeded");
}

const ms = (seconds) => (seconds == null ? "–" : `${(seconds * 1000).toFixed(0)} ms`);

function bitrate(bps) {
  if (bps == null || Number.isNaN(bps)) return "–";
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(2)} Mbit/s`;
  return `${(bps / 1e3).toFixed(0)} kbit/s`;
}

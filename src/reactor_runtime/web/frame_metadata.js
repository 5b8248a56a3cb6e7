// Per-frame metadata of the model's video. A page cannot read the trailer the official
// Python SDK reads, so our offer asks for `frameMetadata` runtime messages instead
// (transport/metadata_sender.py): one per frame that has metadata, naming the RTP
// timestamp of that frame, which requestVideoFrameCallback reports for each presented
// frame. The tile's caption shows the metadata of the frame on screen.

export const OFFER_LINE = "a=x-reactor-frame-metadata-messages:1";
const KEEP = 120; // messages kept per track, waiting for their frame: ~4 s at 30 fps

/** `sdp` with OFFER_LINE at session level (after its `t=` line); the browser never sees it. */
export function askForMetadata(sdp) {
  return sdp.replace(/^(t=.*\r\n)/m, `$1${OFFER_LINE}\r\n`);
}

/** The metadata bytes as text: JSON for a model's dict, else what the bytes decode to. */
function decode(base64) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** The latest `frameMetadata` messages of each track, by RTP timestamp. */
export class FrameMetadataStore {
  constructor() {
    this.tracks = new Map(); // track -> Map(rtp_timestamp -> {text, capture_time_us})
    this.received = 0;
  }

  add({ track, rtp_timestamp, capture_time_us, metadata }) {
    let frames = this.tracks.get(track);
    if (!frames) this.tracks.set(track, (frames = new Map()));
    frames.set(rtp_timestamp, { text: decode(metadata), capture_time_us });
    if (frames.size > KEEP) frames.delete(frames.keys().next().value);
    this.received++;
  }

  /** The metadata of `track`'s frame with RTP timestamp `rtp`, or undefined. */
  get(track, rtp) {
    return this.tracks.get(track)?.get(rtp);
  }
}

/** Show in `caption` the metadata of each frame `video` presents (where the browser says which). */
export function followFrames(video, track, store, caption) {
  if (!("requestVideoFrameCallback" in video)) return;
  const presented = (_now, frame) => {
    const entry = frame.rtpTimestamp === undefined ? undefined : store.get(track, frame.rtpTimestamp);
    if (entry) {
      caption.textContent = ` · ${entry.text}`;
      video.dataset.frameMetadata = entry.text;
    }
    video.requestVideoFrameCallback(presented);
  };
  video.requestVideoFrameCallback(presented);
}

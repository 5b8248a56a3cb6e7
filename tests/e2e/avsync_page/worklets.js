// AudioWorklet processors of the A/V sync page.
//
// "click-tap" reports the context frame at which each click starts on its input
// (first sample above a threshold after at least `holdoff` frames of quiet).
// "click-source" writes the floor's clicks (5 ms of 2 kHz, like the test model's) every
// `period` frames from `first` on, and tells the page the moment it renders one, so the
// page can flash its canvas right then.

class ClickTap extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { threshold = 0.25, holdoff = 24000 } = options.processorOptions ?? {};
    this.threshold = threshold;
    this.holdoff = holdoff;
    this.quietSince = -Infinity;
    this.lastLoud = -Infinity;
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0) return true;
    const frames = input[0].length;
    for (let i = 0; i < frames; i++) {
      let peak = 0;
      for (const channel of input) peak = Math.max(peak, Math.abs(channel[i]));
      if (peak < this.threshold) continue;
      const frame = currentFrame + i;
      // A click is a burst of loud samples: only its first one counts.
      if (frame - this.lastLoud > this.holdoff) this.port.postMessage({ frame });
      this.lastLoud = frame;
    }
    return true;
  }
}

class ClickSource extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { period = 48000, first = 0 } = options.processorOptions ?? {};
    this.period = period;
    this.next = first;
    this.length = Math.round(sampleRate / 200);
    this.playing = -1;
  }

  process(_inputs, outputs) {
    const output = outputs[0];
    const frames = output[0].length;
    for (let i = 0; i < frames; i++) {
      const frame = currentFrame + i;
      if (frame >= this.next) {
        this.playing = 0;
        this.port.postMessage({ frame });
        this.next += this.period;
      }
      let value = 0;
      if (this.playing >= 0) {
        value = 0.7 * Math.sin((2 * Math.PI * 2000 * this.playing) / sampleRate);
        this.playing = this.playing + 1 < this.length ? this.playing + 1 : -1;
      }
      for (const channel of output) channel[i] = value;
    }
    return true;
  }
}

registerProcessor("click-tap", ClickTap);
registerProcessor("click-source", ClickSource);

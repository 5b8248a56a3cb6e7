"""The media engine: splitting emits into frames, resampling, buffering and pacing."""

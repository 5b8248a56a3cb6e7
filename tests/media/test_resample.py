import numpy as np

from reactor_runtime.media.resample import StreamResampler


def sine(rate: int, freq: float, seconds: float, channels: int = 1) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    wave = (np.sin(2 * np.pi * freq * t) * 20000).astype(np.int16)
    return np.tile(wave, (channels, 1))


def max_step(x: np.ndarray) -> int:
    return int(np.max(np.abs(np.diff(x.astype(np.int32), axis=-1))))


def test_16k_sine_in_100ms_blocks_comes_out_at_48k_without_clicks():
    src = sine(16_000, 440, 2.0)
    resampler = StreamResampler(16_000, 1)
    blocks = [resampler.process(src[:, i : i + 1600]) for i in range(0, src.shape[1], 1600)]
    out = np.concatenate([*blocks, resampler.flush()], axis=1)
    assert out.dtype == np.int16 and out.shape[0] == 1
    assert abs(out.shape[1] - 96_000) <= 16
    # A 440 Hz sine of amplitude 20000 at 48 kHz moves at most ~1152 per sample;
    # a click at a block edge would jump far more.
    steady = out[:, 200:-200]
    assert max_step(steady) < 1300
    assert np.max(np.abs(steady)) > 19_000


def test_stereo_stays_stereo_with_channels_kept_apart():
    left = sine(24_000, 500, 0.5)[0]
    stereo = np.stack([left, np.zeros_like(left)])
    resampler = StreamResampler(24_000, 2)
    out = np.concatenate([resampler.process(stereo), resampler.flush()], axis=1)
    assert out.shape[0] == 2
    assert np.max(np.abs(out[0])) > 19_000
    # Only rounding noise on the silent channel: no crosstalk.
    assert np.max(np.abs(out[1])) <= 2


def test_each_block_returns_exactly_its_worth_at_48k():
    resampler = StreamResampler(16_000, 1)
    sizes = [resampler.process(sine(16_000, 440, 0.1)).shape[1] for _ in range(20)]
    assert sizes == [4800] * 20
    odd = StreamResampler(44_100, 1)
    total = sum(odd.process(np.zeros((1, 1470), np.int16)).shape[1] for _ in range(30))
    assert total == 30 * 1600

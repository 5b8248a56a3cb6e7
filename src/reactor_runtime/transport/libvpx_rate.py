"""Changing an open libvpx VP8 encoder's bit rate in place, without a keyframe.

FFmpeg's libvpx wrapper reads `bit_rate` once, when the encoder opens, and PyAV
offers no way to reconfigure it; reopening costs a keyframe. libvpx itself changes
rate on the next frame through `vpx_codec_enc_config_set` (what libwebrtc calls),
so `LibvpxRate` reaches it through the objects PyAV and FFmpeg already hold:

    PyAV CodecContext --ptr--> AVCodecContext --priv_data--> FFmpeg's VPxContext
    (an AVClass pointer, then the `vpx_codec_ctx_t`) --config.enc--> the encoder's own
    live `vpx_codec_enc_cfg_t` (libvpx points it at its private copy when it opens)

Each hop is checked before the next is read: the class names ("AVCodecContext",
"libvpx-vp8 encoder"), the codec ("libvpx"), libvpx's interface name ("WebM
Project VP8 Encoder"), and the configuration's size, time base, current target and
temporal layers (count, per-layer targets, rate decimators, pattern) against what we
opened. With temporal layers, each layer's target (`ts_target_bitrate`, cumulative)
follows the total in the same proportions, as libwebrtc does. If anything does not
match (another PyAV or FFmpeg layout), `attach` returns None with the reason logged
once, and the encoder keeps its opening rate (`VideoEncoder.rate_in_place` says so in the stats).
`tests/transport/test_encoders.py` pins the chain and the behaviour.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import logging
import os
import sys

import av

log = logging.getLogger(__name__)

# Offsets on 64-bit Linux (checked at attach time through the names and values read).
_PYAV_PTR = 24  # PyObject header (16) + Cython vtable pointer (8), then `ptr`
_AVCTX_CODEC = 16  # AVCodecContext.codec (after av_class, log_level_offset, codec_type)
_AVCTX_PRIV = 32  # AVCodecContext.priv_data (after codec_id, codec_tag)
_VPXCTX = 8  # VPxContext: AVClass pointer, then `struct vpx_codec_ctx encoder`
_VPXCTX_CONFIG = 40  # vpx_codec_ctx_t: name, iface, err, err_detail, init_flags, config
# vpx_codec_enc_cfg_t fields (unsigned int unless said).
_CFG_W, _CFG_H, _CFG_TB_NUM, _CFG_TB_DEN = 12, 16, 28, 32
_CFG_END_USAGE, _CFG_TARGET = 72, 112  # rc_end_usage (enum), rc_target_bitrate (kbit/s)
# Temporal scaling (libvpx >= 1.8 layout): ts_number_layers, then ts_target_bitrate[5]
# (kbit/s, cumulative), ts_rate_decimator[5], ts_periodicity, ts_layer_id[16].
_CFG_TS_LAYERS, _CFG_TS_TARGET, _CFG_TS_DECIMATOR = 216, 220, 240
_CFG_TS_PERIODICITY, _CFG_TS_LAYER_ID = 260, 264
_VPX_CBR = 1

_reported: set[str] = set()


@functools.cache
def _library() -> ctypes.CDLL | None:
    """The libvpx PyAV's libavcodec uses (the wheel's bundled copy, else the system's)."""
    here = os.path.dirname(av.__file__)
    found = sorted(glob.glob(os.path.join(here, os.pardir, "av.libs", "libvpx*.so*")))
    for path in [*found, "libvpx.so.12", "libvpx.so.9", "libvpx.so.7", "libvpx.so"]:
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        library.vpx_codec_enc_config_set.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        library.vpx_codec_enc_config_set.restype = ctypes.c_int
        return library
    return None


def _pointer(address: int) -> int:
    value = ctypes.c_void_p.from_address(address).value
    if not value:
        raise LookupError(f"null pointer at {address:#x}")
    return value


def _string(address: int) -> bytes:
    return ctypes.string_at(_pointer(address))


def _uint(address: int) -> int:
    return ctypes.c_uint.from_address(address).value


def layer_targets(bitrate: int, shares: tuple[float, ...]) -> list[int]:
    """The cumulative per-layer targets (kbit/s) libvpx takes for `bitrate` bit/s split by `shares`.

    Args:
        bitrate: The total rate (bit/s).
        shares: Cumulative share of the total up to each layer, the last one 1.0.
    """
    kbps = max(1, round(bitrate / 1000))
    return [max(1, round(kbps * share)) for share in shares]


class LibvpxRate:
    """The rate control of one open libvpx VP8 encoder, changed in place."""

    def __init__(
        self, library: ctypes.CDLL, codec_ctx: int, config: int, shares: tuple[float, ...]
    ) -> None:
        """Wrap the checked `vpx_codec_ctx_t`, its live configuration (addresses) and layers."""
        self._library = library
        self._codec_ctx = codec_ctx
        self._config = config
        self.shares = shares

    @classmethod
    def attach(
        cls, context: av.VideoCodecContext, shares: tuple[float, ...] = (1.0,)
    ) -> LibvpxRate | None:
        """Reach the libvpx encoder under `context` (open, VP8, CBR), or None with a log.

        Args:
            context: The open encoder.
            shares: The cumulative rate share of each temporal layer it was opened with
                (`layer_targets`); `(1.0,)` for no layering.
        """
        try:
            if sys.implementation.name != "cpython" or ctypes.sizeof(ctypes.c_void_p) != 8:
                raise LookupError("needs 64-bit CPython")
            if not context.is_open or context.codec.name != "libvpx":
                raise LookupError(f"needs an open libvpx encoder, got {context.codec.name}")
            avctx = _pointer(id(context) + _PYAV_PTR)
            if _string(_pointer(avctx)) != b"AVCodecContext":
                raise LookupError("PyAV's CodecContext layout is not the known one")
            if _string(_pointer(avctx + _AVCTX_CODEC)) != b"libvpx":
                raise LookupError("AVCodecContext.codec is not libvpx")
            private = _pointer(avctx + _AVCTX_PRIV)
            if _string(_pointer(private)) != b"libvpx-vp8 encoder":
                raise LookupError("FFmpeg's libvpx context is not the known one")
            codec_ctx = private + _VPXCTX
            if not _string(codec_ctx).startswith(b"WebM Project VP8 Encoder"):
                raise LookupError("no VP8 vpx_codec_ctx_t where FFmpeg keeps it")
            config = _pointer(codec_ctx + _VPXCTX_CONFIG)
            time_base = context.time_base
            expected = {
                "g_w": (_CFG_W, context.width),
                "g_h": (_CFG_H, context.height),
                "g_timebase.num": (_CFG_TB_NUM, time_base.numerator if time_base else None),
                "g_timebase.den": (_CFG_TB_DEN, time_base.denominator if time_base else None),
                "rc_end_usage": (_CFG_END_USAGE, _VPX_CBR),
                "rc_target_bitrate": (_CFG_TARGET, round((context.bit_rate or 0) / 1000)),
            }
            if len(shares) > 1:
                targets = layer_targets(context.bit_rate or 0, shares)
                expected["ts_number_layers"] = (_CFG_TS_LAYERS, len(shares))
                expected["ts_periodicity"] = (_CFG_TS_PERIODICITY, 2 ** (len(shares) - 1))
                for i, target in enumerate(targets):
                    decimator = 2 ** (len(shares) - 1 - i)
                    expected[f"ts_target_bitrate[{i}]"] = (_CFG_TS_TARGET + 4 * i, target)
                    expected[f"ts_rate_decimator[{i}]"] = (_CFG_TS_DECIMATOR + 4 * i, decimator)
                expected["ts_layer_id[1]"] = (_CFG_TS_LAYER_ID + 4, 1)
            for field, (offset, value) in expected.items():
                if _uint(config + offset) != value:
                    raise LookupError(f"vpx_codec_enc_cfg_t.{field} is not {value}")
            library = _library()
            if library is None:
                raise LookupError("libvpx could not be loaded")
        except LookupError as exc:
            reason = str(exc)
            if reason not in _reported:
                _reported.add(reason)
                log.warning("VP8 bit rate cannot change in place (%s): it stays fixed", reason)
            return None
        return cls(library, codec_ctx, config, shares)

    @property
    def kbps(self) -> int:
        """The target bit rate libvpx works to, kbit/s."""
        return _uint(self._config + _CFG_TARGET)

    @property
    def layer_kbps(self) -> list[int]:
        """Each temporal layer's cumulative target, kbit/s (empty without layers)."""
        if len(self.shares) == 1:
            return []
        return [_uint(self._config + _CFG_TS_TARGET + 4 * i) for i in range(len(self.shares))]

    def set(self, bitrate: int) -> None:
        """Work to `bitrate` bit/s from the next frame on (call between encodes only).

        Each temporal layer's target follows in the proportions it was opened with.

        Raises:
            RuntimeError: libvpx refused the configuration (its error code).
        """
        fields = [ctypes.c_uint.from_address(self._config + _CFG_TARGET)]
        values = [max(1, round(bitrate / 1000))]
        if len(self.shares) > 1:
            for i, target in enumerate(layer_targets(bitrate, self.shares)):
                fields.append(ctypes.c_uint.from_address(self._config + _CFG_TS_TARGET + 4 * i))
                values.append(target)
        previous = [field.value for field in fields]
        for field, value in zip(fields, values, strict=True):
            field.value = value
        status = self._library.vpx_codec_enc_config_set(self._codec_ctx, self._config)
        if status != 0:
            for field, value in zip(fields, previous, strict=True):
                field.value = value
            raise RuntimeError(f"vpx_codec_enc_config_set refused {bitrate} bit/s: {status}")

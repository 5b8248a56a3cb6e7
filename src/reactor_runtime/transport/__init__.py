"""The WebRTC side of the runtime (aiortc): one `ViewerPeer` per viewer, one `MediaHub` per session.

The transport knows the `Session`'s public methods and nothing of the model class.
`MediaHub` takes the pacer's frames and encodes each once per codec; each viewer's
`ViewerPeer` answers the client's offer, sends the hub's packets, reads the client's
tracks into the session's inputs, and routes data-channel messages through the wire
codec of that client.
"""

from .encoders import VIDEO_CODECS, VideoCodec
from .hub import MediaHub
from .peer import PeerState, ViewerPeer

__all__ = ["VIDEO_CODECS", "MediaHub", "PeerState", "VideoCodec", "ViewerPeer"]

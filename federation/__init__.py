"""ActivityPub federation between UNITED nodes and the wider fediverse (docs/federation.md)."""

__version__ = "0.1.0"
PROTOCOL_VERSION = "1"
SOFTWARE_NAME = "united"

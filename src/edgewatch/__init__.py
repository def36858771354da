"""edgewatch: self-hosted monitoring for edge devices and small Linux servers."""

__version__ = "0.1.0"

"""copytui: a keyboard-driven terminal trade copier."""

__version__ = "0.1.0"

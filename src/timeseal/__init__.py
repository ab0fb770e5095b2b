"""TimeSeal (时印): trusted-timestamp evidence platform."""

__version__ = "0.1.0"

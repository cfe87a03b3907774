"""figbuild: generated figures as a build artifact of a paper."""

__version__ = "0.1.0"

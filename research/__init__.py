"""The measuring rig (see README.md here); run its tools as python -m research.<tool>."""

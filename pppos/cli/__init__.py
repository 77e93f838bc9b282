"""Command-line entry points: one module per command, each with ``main(argv=None) -> int``."""

"""silspec: write a silicon-sampling experiment once, check it, plan it, run it, score it."""

__version__ = "0.1.0"

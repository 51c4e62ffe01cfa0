"""The steps: one module per MLproject entry point (and ``serve``).

Each is a function with typed arguments, called by the command line (trackfit.cli): it
parses the source once, builds the split once, chooses the engine once and calls the
library. A step imports the library, never another step.
"""

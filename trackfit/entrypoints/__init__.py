"""The steps: one module per MLproject entry point (and ``serve``).

Each is a function with typed arguments, called by the command line (trackfit.cli): it
parses the source once, builds the split once, chooses the engine once, opens its step's
run and calls the library with plain values. A step imports the library, never another
step, except ``main``, which is the steps in one process.
"""

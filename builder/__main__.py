"""`python -m builder` runs the same CLI as `build-instructions`."""

from builder import run

run()

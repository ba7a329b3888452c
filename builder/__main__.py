"""`python -m builder` runs the same CLI as `build-instructions`."""

from builder.cli import main

main()

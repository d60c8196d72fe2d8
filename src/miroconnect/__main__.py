"""`python -m miroconnect` runs the command line."""

from miroconnect.cli import main

main()

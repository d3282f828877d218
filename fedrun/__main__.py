"""`python -m fedrun`."""

from fedrun.cli import main

main()

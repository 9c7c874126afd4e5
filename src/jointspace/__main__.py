"""`python -m jointspace` runs the CLI (same as the `jointspace` command)."""

from jointspace.cli import main

main()

"""`python -m jointspace` runs the CLI (same as the `jointspace` command)."""

from jointspace.cli import main

# guarded: decode worker processes import the main module again, and must not re-run the CLI
if __name__ == "__main__":
    main()

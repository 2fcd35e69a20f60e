"""`python -m renderer` and the `renderer` console script."""

import sys


def main() -> None:
    """Run the command line; Ctrl-C while it is still loading exits 130 quietly."""
    try:
        from renderer.cli import main as cli_main
    except KeyboardInterrupt:
        # Nothing has started yet, so there is nothing to resume or clean up.
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
    cli_main()


if __name__ == "__main__":
    main()

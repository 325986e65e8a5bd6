"""``python -m livechat_core`` and the ``livechat-core`` console script."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``livechat-core`` command line; returns the exit status."""
    from ._cli import main as run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())

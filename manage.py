#!/usr/bin/env python
"""Django's command-line utility for the UNITED node."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "united.settings")
    from united.startup import run_cli

    run_cli(sys.argv)


if __name__ == "__main__":
    main()

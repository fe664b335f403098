"""Run one experiment config on a dataset: `python experiments/run.py CONFIG DATA [experiment options]`.

Same as `jaxpelsvae experiment DATA --config CONFIG [options]`; CONFIG is a file of this folder
(e.g. experiments/bias_temperature.py) or any .py with get_config() / .json file.
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    config, data, rest = argv[0], argv[1], argv[2:]
    from jaxpelsvae.cli import main as cli_main

    return cli_main(["experiment", data, "--config", config, *rest])


if __name__ == "__main__":
    sys.exit(main())

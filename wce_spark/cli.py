"""What every job shares: ``--conf``, ``--date``, ``--set``, and turning failures into one clear line.

A job's ``main`` parses with ``job_parser``, loads with ``config_from_args`` and is run by ``run_job``,
which maps ``UserError`` to its one-line message and exit code 2, and any other failure to a one-line
summary (after the traceback, which is kept for whoever debugs it) and exit code 1.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import traceback
from typing import Callable

from wce_spark.config import Config, load_config
from wce_spark.errors import UserError


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"malformed date {text!r}, expected YYYY-MM-DD") from None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line and exit 2, like every other user error
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        sys.exit(2)


def job_parser(prog: str, description: str, with_date: bool = True) -> argparse.ArgumentParser:
    parser = _Parser(prog=prog, description=description,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conf", required=True, metavar="PATH",
                        help="YAML config, e.g. conf/local.yaml or conf/cluster.yaml")
    if with_date:
        parser.add_argument("--date", type=parse_date, required=True, metavar="YYYY-MM-DD",
                            help="the day to work on (UTC)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set weight.fn=log2_plus1 (repeatable)")
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    return load_config(args.conf, args.overrides)


def run_job(name: str, main: Callable[[], int | None]) -> None:
    """Run ``main`` and exit with its code; no failure leaves without a one-line reason."""
    try:
        code = main() or 0
    except UserError as exc:
        sys.stderr.write(f"{name}: error: {exc}\n")
        code = exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write(f"{name}: interrupted\n")
        code = 130
    except Exception as exc:  # noqa: BLE001 - the last line must say what failed
        traceback.print_exc()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        sys.stderr.write(f"{name}: failed: {type(exc).__name__}: {first}\n")
        code = 1
    sys.exit(code)

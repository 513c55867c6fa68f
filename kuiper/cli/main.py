"""The `kuiper` command: argparse subcommands (run; the management verbs come later)."""
from __future__ import annotations

import argparse
import logging
import sys

from kuiper import __version__
from kuiper.cli.manage import add_manage_commands
from kuiper.cli.plugins import add_plugin_commands
from kuiper.errors import KuiperError


def _run(args: argparse.Namespace) -> int:
    from kuiper.cli.run import format_metrics, run_paths

    results = run_paths(args.paths, args.root, progress=sys.stderr.isatty() and not args.quiet)
    print(format_metrics(results))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kuiper", description="Edge stream processing with "
                                     "eKuiper's SQL and rules.")
    parser.add_argument("--version", action="version", version=f"kuiper {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more logging (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run streams (.sql) and rules (.json) until their input ends",
                         description="Run CREATE STREAM files and rule JSON files standalone, "
                                     "until every source is exhausted or Ctrl-C; then print "
                                     "each rule's metrics.")
    run.add_argument("paths", nargs="+", metavar="PATH",
                     help=".sql / .json files, or folders (their *.sql then *.json)")
    run.add_argument("--root", default=None,
                     help="kuiper root with etc/, plugins/, data/ (default: $KUIPER_ROOT or .)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    run.add_argument("-v", "--verbose", action="count", default=0, dest="sub_verbose",
                     help=argparse.SUPPRESS)
    run.set_defaults(func=_run)
    add_plugin_commands(sub)
    add_manage_commands(sub)  # after the plugin verbs: they share nouns (create, show, …)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    verbosity = args.verbose + getattr(args, "sub_verbose", 0)
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    logging.getLogger("kuiper.sink.log").setLevel(min(level, logging.INFO))  # log sink results
    try:
        return int(args.func(args) or 0)
    except KuiperError as exc:
        print(f"kuiper: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

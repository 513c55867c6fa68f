"""The `kuiper` command: argparse subcommands (run; the management verbs come later)."""
from __future__ import annotations

import argparse
import contextlib
import gc
import io
import logging
import os
import sys
from collections.abc import Iterator

from kuiper import __version__
from kuiper.errors import KuiperError


@contextlib.contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """numpy loads OpenBLAS with one thread unless OPENBLAS_NUM_THREADS says otherwise: kuiper
    makes no BLAS calls, and the pool's threads start (and spin) with the library. The variable
    is removed again, so plugin and service processes see the user's environment."""
    if "OPENBLAS_NUM_THREADS" in os.environ:
        yield
        return
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    try:
        yield
    finally:
        os.environ.pop("OPENBLAS_NUM_THREADS", None)


def _run(args: argparse.Namespace) -> int:
    if args.own_process:
        # what start-up loads (numpy, sqlglot, asyncio, kuiper) lives until the process exits:
        # no cycle collection runs while it loads (~500 objects of garbage), and none walks it
        # again afterwards, the interpreter's last ones at exit included (they took a good
        # part of a short run's CPU time)
        gc.disable()
        try:
            with _single_threaded_blas():
                import kuiper.cli.run  # noqa: F401
        finally:
            gc.freeze()
            gc.enable()
    from kuiper.cli.run import format_metrics, run_paths

    results = run_paths(args.paths, args.root, progress=sys.stderr.isatty() and not args.quiet)
    print(format_metrics(results))
    return 0


def build_parser(full: bool = True) -> argparse.ArgumentParser:
    """The command line; `full=False` leaves out the plugin and management verbs (a `kuiper run`
    needs none of them, and building their parsers is a good part of its start-up)."""
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
    if full:
        from kuiper.cli.manage import add_manage_commands
        from kuiper.cli.plugins import add_plugin_commands

        add_plugin_commands(sub)
        add_manage_commands(sub)  # after the plugin verbs: they share nouns (create, show, …)
    return parser


def _command(argv: list[str]) -> str | None:
    """The subcommand: the first argument that is not an option (the global options take no
    value)."""
    return next((a for a in argv if not a.startswith("-")), None)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The parsed command line; a `run` parses without the other verbs, and a mistake in it is
    reported by the full parser (the same message, with the usage line listing every verb)."""
    if _command(argv) != "run":
        return build_parser().parse_args(argv)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return build_parser(full=False).parse_args(argv)
    except SystemExit as exc:
        if not exc.code:  # --help / --version: already printed to stdout
            raise
    return build_parser().parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    own_process = argv is None  # the process's own command line (not a call from Python)
    args = parse_args(sys.argv[1:] if argv is None else argv)
    args.own_process = own_process
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

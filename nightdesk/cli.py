"""`nightdesk`: the pipeline's steps without Airflow (the DAG's tasks call the same functions).

Exit codes: 0 done; 1 the run failed (the cause in a line or two; `--verbose` adds the
traceback); 2 a usage error (one line, nothing ran): a bad flag or date, an unknown source, a
sources file that does not validate.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import re
import sys
import traceback
from collections.abc import Callable
from functools import partial
from typing import Any

from contracts.cliargs import Parser, UsageError
from contracts.dates import nightly_window, parse_day, parse_iso
from contracts.layout import lake_articles_dir
from contracts.settings import Settings, mask_logs, masked
from etl import runids
from nightdesk.pipeline import run


def _a_date(text: str) -> str:
    """--day: a calendar date only; a time would silently shift the nightly window."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise argparse.ArgumentTypeError(f"takes a date (YYYY-MM-DD), not {text!r}")
    try:
        parse_day(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: {exc}") from None
    return text


def _an_instant(text: str) -> str:
    """--start/--end: ISO 8601 with a UTC offset (a bare time would be read in nobody's zone)."""
    when = parse_iso(text)
    if when is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time (e.g. 2022-01-31T02:00:00+00:00)")
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a UTC offset, e.g. {text}+00:00")
    return when.isoformat()


def _interval(args: argparse.Namespace) -> tuple[str, str]:
    if args.day:
        if args.end:
            raise UsageError("--end goes with --start, not with --day")
        return nightly_window(args.day)
    if not args.end:
        raise UsageError("--start needs --end (both ISO 8601 with an offset)")
    if parse_iso(args.start) >= parse_iso(args.end):  # type: ignore[operator]
        raise UsageError(f"--start {args.start} is not before --end {args.end}")
    return args.start, args.end


def _chosen_sources(sources_file: str, only: list[str] | None) -> list[str] | None:
    """Loads and validates the whole file before anything runs; --source names must exist."""
    from spiders.sources import load_sources

    names = list(load_sources(sources_file))
    for name in only or ():
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UsageError(f"no source {name!r} in {sources_file}; {hint}"
                             f"it has: {', '.join(names)}")
    return only


def cmd_run(args: argparse.Namespace) -> int:
    start, end = _interval(args)
    settings = args.settings.replace(sources_file=args.sources, data_dir=args.data_dir,
                                     warehouse_url=args.warehouse)
    sources_file = str(settings.sources_file)
    # checked as the user named it, so messages show the path they typed
    only = _chosen_sources(args.sources or sources_file, args.source)
    data, url = settings.data_dir, settings.warehouse
    run_id = args.run_id or runids.cli_run_id()
    result = run(start, end, sources_file=sources_file, data_dir=str(data), warehouse_url=url,
                 run_id=run_id, only=only, refetch=args.refetch, settings=settings)
    print(json.dumps(result, indent=1, default=str))
    print(f"lake: {lake_articles_dir(data)}\nwarehouse: {masked(url)}", file=sys.stderr)
    return 0


def add_run(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("run", parents=[common],
                       help="crawl, transform, load and check one interval [start, end)")
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--start", type=_an_instant,
                      help="ISO 8601 with offset, e.g. 2022-01-31T02:00:00+00:00")
    when.add_argument("--day", type=_a_date,
                      help="a date D: its nightly window [D 02:00Z, D+1 02:00Z)")
    p.add_argument("--end", type=_an_instant, help="ISO 8601 with offset (with --start)")
    p.add_argument("--sources", default=None, help="sources TOML (default sources/demo.toml)")
    p.add_argument("--source", action="append", help="only this source (repeatable)")
    p.add_argument("--data-dir", default=None,
                   help="outputs (default NIGHTDESK_DATA_DIR, else data/ in the project)")
    p.add_argument("--warehouse", default=None, help="SQLAlchemy URL (default SQLite in data)")
    p.add_argument("--run-id", default=None)
    p.add_argument("--refetch", action="store_true",
                   help="fetch every article of the window again (ignore what was fetched)")
    p.set_defaults(func=cmd_run)


def cmd_check_data(args: argparse.Namespace) -> int:
    """`verify` and `repair` (etl/verify.py, etl/repair.py)."""
    from etl import repair, verify
    from etl.migrate import migrate
    from nightdesk.pipeline import recrawl

    settings = args.settings.replace(data_dir=args.data_dir, warehouse_url=args.warehouse,
                                     sources_file=getattr(args, "sources", None))
    data, url = settings.data_dir, settings.warehouse
    migrate(url)  # a fresh or behind warehouse, so both read the schema this code knows
    knobs = {"workers": settings.workers, "neardup": settings.neardup}
    if args.command == "verify":
        return verify.main(data, url, **knobs)
    return repair.main(data, url, partial(recrawl, settings=settings), args.paths, **knobs)


def add_verify(sub: Any, common: argparse.ArgumentParser) -> None:
    v = sub.add_parser("verify", parents=[common],
                       help="find damaged lake, warehouse, index and raw files")
    r = sub.add_parser("repair", parents=[common],
                       help="fix what verify finds (everything, or the given files)")
    for q in (v, r):
        q.add_argument("--data-dir", default=None, help="outputs (default ./data)")
        q.add_argument("--warehouse", default=None, help="SQLAlchemy URL (default SQLite in data)")
        q.set_defaults(func=cmd_check_data)
    r.add_argument("--sources", default=None, help="sources TOML, to crawl a raw window again")
    r.add_argument("paths", nargs="*", help="only the problems of these files")


def cmd_migrate(args: argparse.Namespace) -> int:
    from etl.migrate import migrate

    url = args.settings.replace(data_dir=args.data_dir, warehouse_url=args.warehouse).warehouse
    done = migrate(url)
    print(f"warehouse {masked(url)}: schema {done['from'] or 'none'} -> {done['to']}")
    return 0


def add_migrate(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("migrate", parents=[common],
                       help="bring the warehouse schema to this code's version (deploy step)")
    p.add_argument("--data-dir", default=None, help="outputs (default ./data)")
    p.add_argument("--warehouse", default=None, help="SQLAlchemy URL (default SQLite in data)")
    p.set_defaults(func=cmd_migrate)


def _say(prog: str, kind: str, message: str) -> None:
    for line in message.strip().splitlines() or [""]:
        print(f"{prog}: {kind}: {line}", file=sys.stderr)


def _failure(exc: BaseException) -> str:
    """A failure in at most two lines: its type and message (a subprocess's stderr tail is cut
    to its last line; --verbose shows everything)."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()] or [""]
    text = lines[0] if len(lines) < 3 else f"{lines[0]} ... {lines[-1].strip()}"
    return f"{type(exc).__name__}: {text}"


def _dispatch(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    from spiders.sources import SourceConfigError

    prog = f"nightdesk {args.command}"
    try:
        return func(args)
    except (UsageError, SourceConfigError) as exc:
        _say(prog, "error", str(exc))
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.verbose:
            traceback.print_exc()
        _say(prog, "failed", _failure(exc))
        if not args.verbose:
            print(f"{prog}: (--verbose shows the traceback)", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    from etl import query
    from nightdesk import report_cli
    from spiders import trysite

    parser = Parser(prog="nightdesk", description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    # Every subcommand takes these (parents=[common]); each sets its handler with
    # set_defaults(func=...), and main() turns its exceptions into exit codes.
    common = Parser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true",
                        help="log progress and show tracebacks")
    # also before the command (`nightdesk --verbose run ...`); its own dest, because a
    # subcommand's default would overwrite it
    parser.add_argument("-v", "--verbose", dest="verbose_first", action="store_true",
                        help="log progress and show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_run(sub, common)
    add_verify(sub, common)
    add_migrate(sub, common)
    trysite.add_parser(sub, common)
    query.add_parser(sub, common)
    report_cli.add_parsers(sub, common)
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        command = next((a for a in (argv or sys.argv[1:]) if a in sub.choices), None)
        print(f"nightdesk{' ' + command if command else ''}: error: {exc}", file=sys.stderr)
        return 2
    args.verbose = args.verbose or args.verbose_first
    args.settings = Settings.from_env()  # the one read of the environment; commands narrow it
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s" if args.verbose
        else "%(levelname)s %(name)s: %(message)s")
    mask_logs()
    return _dispatch(args.func, args)


if __name__ == "__main__":
    raise SystemExit(main())

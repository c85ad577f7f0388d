"""The command-line contract every `nightdesk` subcommand keeps, wherever it is defined: a usage
error is exit 2 with one line, nothing ran (the app layer, nightdesk/cli.py, prints it)."""

from __future__ import annotations

import argparse
from typing import NoReturn


class UsageError(Exception):
    """The command line asks for something that cannot run: exit 2, one line, no traceback."""


class Parser(argparse.ArgumentParser):
    """argparse that raises UsageError (printed as one line by main) instead of printing the
    usage block and exiting; subcommand parsers inherit it."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")

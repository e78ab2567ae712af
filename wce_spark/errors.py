"""Errors a user can act on: jobs print them as one line and exit non-zero, with nothing written."""


class UserError(Exception):
    """Bad input, bad config or a missing prerequisite: reported as one line, exit code 2."""

    exit_code = 2

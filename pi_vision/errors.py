"""Errors caused by the user's input (config, CLI, model file, camera).

The CLI prints them as one line and exits with code 2; everything else is a bug and
keeps its traceback.
"""


class UserError(Exception):
    """Bad input; the message names the problem and the fix in one line."""

    exit_code = 2

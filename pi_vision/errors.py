"""Errors caused by the user's input (config, CLI, model file, camera).

The CLI prints them as one line and exits with their code: 2 for what retrying cannot fix
(systemd's unit does not restart on it), 75 for a camera that stayed away too long (the
unit restarts on it). Everything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """Bad input; the message names the problem and the fix in one line."""

    exit_code = 2


class SourceUnavailable(UserError):
    """A live camera or stream that cannot deliver now but may later (not plugged in yet,
    still booting, busy): retried as an outage, and fatal only after ``source.max_outage``."""

    exit_code = 75  # EX_TEMPFAIL: a temporary failure, try again

"""The offline commands (console entry points pi-vision-<name>, or python -m pi_vision.commands.<name>)."""

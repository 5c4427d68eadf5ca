"""Command line: flags override the YAML config; bad input is one line and exit code 2."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import dataclasses
import threading

from pi_vision import app, config as config_mod, logging_setup
from pi_vision.errors import UserError
from pi_vision.settings import OneLineParser, add_flags

log = logging.getLogger(__name__)

def build_parser() -> argparse.ArgumentParser:
    """Every setting with a flag, grouped by section, plus the run's own flags."""
    p = OneLineParser(prog="pi-vision", description="Real-time MobileNet-SSD object detection with honest latency stats.",
                argument_default=argparse.SUPPRESS)
    p.add_argument("--config", help="YAML config file; flags override it")
    p.add_argument("--validate-config", metavar="FILE", help="check a config file and exit")
    p.add_argument("--print-address-families", action="store_true",
                   help="print the network socket families the config needs (for the service unit) and exit")
    for section in dataclasses.fields(config_mod.Config):
        # Flag values land in args as "section.key", the config path they override.
        add_flags(p, section.default_factory, prefix=f"{section.name}.", title=section.name, every_field=True)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def build_config(args: argparse.Namespace) -> config_mod.Config:
    data = config_mod.load_yaml(args.config) if "config" in args else {}
    overrides: dict = {}
    for path, _, _ in config_mod.settings():
        if path in args:
            config_mod.set_path(overrides, path, getattr(args, path))
    return config_mod.from_dict(config_mod.merge(data, overrides))


def _install_signal_handlers(stop: threading.Event, reload: threading.Event) -> None:
    def handle(signum, _frame):
        if stop.is_set():  # a second Ctrl-C means "now"
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
        log.info("%s received; stopping", signal.Signals(signum).name)
        stop.set()

    def handle_hup(signum, _frame):
        log.info("SIGHUP received; reloading the config")
        reload.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGHUP, handle_hup)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if "validate_config" in args:
            config_mod.from_dict(config_mod.load_yaml(args.validate_config))
            print(f"{args.validate_config}: ok")
            return 0
        config = build_config(args)
        if "print_address_families" in args:
            print(" ".join(config_mod.address_families(config)))
            return 0
        logging_setup.configure(config.monitor.log_format, logging.DEBUG if "verbose" in args else logging.INFO)
        stop, reload = threading.Event(), threading.Event()
        _install_signal_handlers(stop, reload)
        # A reload reads the file again; the command line's flags still override it.
        app.run(config, stop, reload=reload, reload_config=lambda: build_config(args))
        return 0
    except UserError as e:
        print(f"pi-vision: {e}", file=sys.stderr)
        return e.exit_code

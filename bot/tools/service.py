"""Operator command `install-service`: the shipped systemd unit, written with this checkout's paths.

The units in systemd/ are the single source: they name /opt/whatsapp-bot, its .venv and /etc/whatsapp-bot, and
this command substitutes the project folder, the running Python (the venv's), the user and the settings file.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from bot.settings import NAME_PATTERN, PROJECT_ROOT, Settings
from bot.tools.common import ToolError

SHIPPED_DIR = PROJECT_ROOT / "systemd"
SINGLE_UNIT = "whatsapp-bot.service"
TEMPLATE_UNIT = "whatsapp-bot@.service"
DEFAULT_OUTPUT = Path("/etc/systemd/system")
DEFAULT_USER = "whatsapp-bot"
DEFAULT_ENV_FILE = Path("/etc/whatsapp-bot/bot.env")
STATE_ROOT = "/var/lib"  # what %S means for a system service

# What the shipped units name, and is replaced.
SHIPPED_ROOT = "/opt/whatsapp-bot"
SHIPPED_PYTHON = f"{SHIPPED_ROOT}/.venv/bin/python"
SHIPPED_ENV_FILE = "/etc/whatsapp-bot/bot.env"
SHIPPED_INSTANCE_ENV_FILE = "/etc/whatsapp-bot/%i.env"

USER_PATTERN = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
# A path with these would need quoting that WorkingDirectory= and ExecStart= do not share.
UNSAFE_IN_PATH = re.compile(r"[\s\"'\\]")
# What the service's own `login` / `doctor` run needs from the unit, to see the same settings and folders.
RUN_AS_SERVICE_KEYS = (
    "User",
    "Group",
    "WorkingDirectory",
    "Environment",
    "EnvironmentFile",
    "StateDirectory",
    "StateDirectoryMode",
    "UMask",
)


class UnitPaths(BaseModel):
    """Where this installation lives."""

    model_config = ConfigDict(frozen=True)

    root: Path = PROJECT_ROOT
    python: Path = Path(sys.executable)  # not resolved: the venv's python is a symlink that makes it the venv
    user: str = DEFAULT_USER
    env_file: Path = DEFAULT_ENV_FILE


def unit_name(instance: str | None) -> str:
    return TEMPLATE_UNIT if instance is not None else SINGLE_UNIT


def service_name(instance: str | None) -> str:
    """What `systemctl` is given: the unit, or the template's instance for this account."""
    return f"whatsapp-bot@{instance}" if instance is not None else "whatsapp-bot"


def render_unit(text: str, paths: UnitPaths) -> str:
    """The shipped unit `text` with this installation's paths and user."""
    for what, path in (("the project folder", paths.root), ("Python", paths.python), ("--env-file", paths.env_file)):
        if not path.is_absolute():
            raise ToolError(f"{what} must be an absolute path, got {path}")
        if UNSAFE_IN_PATH.search(str(path)):
            raise ToolError(f"{what} {path} contains a space, a quote or a backslash; systemd units cannot use it")
    if not USER_PATTERN.fullmatch(paths.user):
        raise ToolError(f"--user {paths.user!r} is not a user name (lower-case letters, digits, '_' or '-')")
    replacements = {
        SHIPPED_PYTHON: _escape(str(paths.python)),
        SHIPPED_ROOT: _escape(str(paths.root)),
        SHIPPED_ENV_FILE: _escape(str(paths.env_file)),
        SHIPPED_INSTANCE_ENV_FILE: _escape(str(paths.env_file.parent)) + "/%i.env",
    }
    # One pass, longest first: the venv's path starts with the project's, and a new path may contain an old one.
    pattern = re.compile("|".join(re.escape(old) for old in sorted(replacements, key=len, reverse=True)))
    text = pattern.sub(lambda match: replacements[match.group(0)], text)
    return re.sub(r"^(User|Group)=.*$", lambda match: f"{match.group(1)}={paths.user}", text, flags=re.MULTILINE)


def write_unit(instance: str | None, paths: UnitPaths, output: Path) -> Path:
    """Write the unit into `output`; ToolError (nothing written) when that folder cannot take it."""
    text = render_unit((SHIPPED_DIR / unit_name(instance)).read_text(encoding="utf-8"), paths)
    if not output.is_dir():
        raise ToolError(f"{output} is not a folder (is systemd installed here? or choose one with --output DIR)")
    target = output / unit_name(instance)
    try:
        target.write_text(text, encoding="utf-8")
        target.chmod(0o644)
    except OSError as error:
        raise ToolError(
            f"cannot write {target}: {error.strerror} (run it with sudo, or write elsewhere with --output DIR)"
        ) from error
    return target


def service_properties(unit_text: str, instance: str | None) -> list[tuple[str, str]]:
    """The [Service] settings a one-off command needs to run as the service does, with %-specifiers expanded."""
    properties = []
    section = ""
    for line in unit_text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            if key in RUN_AS_SERVICE_KEYS:
                properties.append((key, _expand(value, instance)))
    return properties


def run_as_service(unit_text: str, instance: str | None, paths: UnitPaths, *command: str) -> str:
    """A shell command running `run_bot.py <command>` once, as the service's user, with its settings and folders."""
    words = ["sudo", "systemd-run", "--pty", "--quiet", "--collect"]
    for key, value in service_properties(unit_text, instance):
        words += ["-p", f"{key}={value}"]
    words += [str(paths.python), str(paths.root / "run_bot.py"), *command]
    return shlex.join(words)


def next_steps(target: Path, instance: str | None, paths: UnitPaths) -> str:
    unit_text = target.read_text(encoding="utf-8")
    service = service_name(instance)
    state_dir = f"{STATE_ROOT}/whatsapp-bot"
    env_file = shlex.quote(str(paths.env_file))
    lines = [
        f"Wrote {target} (project {paths.root}, Python {paths.python}, user {paths.user}).",
        "",
        "Next steps:",
        "  1. The bot's own user, if it does not exist yet (it must be able to read the project folder):",
        f"       sudo useradd --system --home-dir {state_dir} --no-create-home --shell /usr/sbin/nologin {paths.user}",
        "  2. The settings (MONGODB_URI, GEMINI_API_KEY), readable by root only:",
        f"       sudo install -d -m 0700 {shlex.quote(str(paths.env_file.parent))}",
        f"       sudo install -m 0600 {shlex.quote(str(paths.root / 'config' / 'bot.env.example'))} {env_file}",
        f"       sudoedit {env_file}",
    ]
    if instance is not None:
        own = shlex.quote(str(paths.env_file.parent / f"{instance}.env"))
        lines += [
            f"     and, if the account {instance!r} needs settings of its own (mode 0600 too):",
            f"       sudoedit {own}",
            f"     (the unit sets ACCOUNT={instance}, MONGODB_DATABASE=whatsapp_bot_{instance} and its own profile "
            "folder: leave those out of both files)",
        ]
    lines += [
        "  3. Check the set-up as the service will see it:",
        f"       {run_as_service(unit_text, instance, paths, 'doctor')}",
        "  4. Link the phone: a QR code in the terminal (add --phone +15551234567 for a pairing code instead):",
        f"       {run_as_service(unit_text, instance, paths, 'login')}",
        "  5. Start it, now and at every boot, and watch it:",
        "       sudo systemctl daemon-reload",
        f"       sudo systemctl enable --now {service}",
        f"       systemctl status {service}; journalctl -u {service} -f",
    ]
    if paths.root.is_relative_to("/home") or paths.root.is_relative_to("/root"):
        lines += [
            "",
            f"Warning: {paths.root} is in a home folder, which the unit hides from the service (ProtectHome=yes): "
            "move the checkout to /opt (or /srv) and run this again.",
        ]
    return "\n".join(lines)


async def install_service(args: argparse.Namespace, settings: Settings) -> None:
    instance: str | None = args.instance
    if instance is not None and not NAME_PATTERN.fullmatch(instance):
        raise ToolError(f"--instance {instance!r}: expected 1 to 64 letters, digits, '_' or '-' (it is the ACCOUNT)")
    paths = UnitPaths(user=args.user, env_file=Path(args.env_file))
    target = write_unit(instance, paths, Path(args.output))
    print(next_steps(target, instance, paths), flush=True)


def _escape(value: str) -> str:
    return value.replace("%", "%%")  # a literal % in a unit file is written %%


def _expand(value: str, instance: str | None) -> str:
    """The specifiers the shipped units use, as systemd expands them for a system service."""
    specifiers = {"%%": "%", "%i": instance or "", "%S": STATE_ROOT}
    return re.sub(r"%[%iS]", lambda match: specifiers[match.group(0)], value)


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "install-service",
        help="write the systemd unit for this checkout (its Python, its folder) and print the next steps",
        description="Writes systemd/whatsapp-bot.service (or, with --instance, the template whatsapp-bot@.service "
        "for one of several accounts) with this checkout's paths.",
    )
    parser.add_argument(
        "--instance", metavar="NAME", help="install the template unit for several accounts; NAME is this account"
    )
    parser.add_argument(
        "--user", default=DEFAULT_USER, help=f"user (and group) the bot runs as (default {DEFAULT_USER})"
    )
    parser.add_argument(
        "--output",
        default=str(DEFAULT_OUTPUT),
        metavar="DIR",
        help=f"where to write the unit (default {DEFAULT_OUTPUT})",
    )
    parser.add_argument(
        "--env-file",
        default=str(DEFAULT_ENV_FILE),
        metavar="PATH",
        help=f"the settings file with the secrets (default {DEFAULT_ENV_FILE}; a template instance also reads "
        "NAME.env next to it)",
    )
    parser.set_defaults(handler=install_service)

"""The shipped systemd units (what they promise, and `systemd-analyze verify`) and `install-service`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import build_parser
from bot.errors import EXIT_SETTINGS
from bot.settings import PROJECT_ROOT, Settings
from bot.tools.common import ToolError
from bot.tools.service import (
    SHIPPED_DIR,
    SINGLE_UNIT,
    TEMPLATE_UNIT,
    UnitPaths,
    render_unit,
    run_as_service,
    service_properties,
    write_unit,
)
from tests.cli_helpers import run_bot

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None,
    reason="systemd-analyze is missing: install Debian's systemd package (scripts/setup.sh --test does)",
)
HERE = UnitPaths(root=PROJECT_ROOT, python=Path(sys.executable))


def directives(text: str) -> dict[tuple[str, str], list[str]]:
    """(section, key) -> the values, in order, of a unit file."""
    found: dict[tuple[str, str], list[str]] = {}
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found.setdefault((section, key), []).append(value)
    return found


def seconds(value: str) -> float:
    assert value.isdigit(), f"expected plain seconds, got {value!r}"
    return float(value)


def verify(unit: Path) -> None:
    """`systemd-analyze verify`, which must pass without a word about our unit."""
    assert SYSTEMD_ANALYZE is not None
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    complaints = [line for line in result.stderr.splitlines() if "whatsapp-bot" in line]
    assert result.returncode == 0 and not complaints, result.stderr


@pytest.mark.parametrize("name", [SINGLE_UNIT, TEMPLATE_UNIT])
def test_shipped_units_keep_their_promises(name: str) -> None:
    unit = directives((SHIPPED_DIR / name).read_text(encoding="utf-8"))

    def one(key: str, section: str = "Service") -> str:
        [value] = unit[(section, key)]
        return value

    assert one("Type") == "notify" and one("NotifyAccess") == "main"
    assert 30 <= seconds(one("WatchdogSec")) <= 600
    assert one("Restart") == "on-failure"
    assert seconds(one("StartLimitIntervalSec", "Unit")) > 0 and int(one("StartLimitBurst", "Unit")) > 0
    assert one("RestartPreventExitStatus").split() == ["2", "3", "4"]
    assert one("KillMode") == "mixed"
    # The graceful stop fits, with room for closing the browser after the deadline.
    assert seconds(one("TimeoutStopSec")) >= Settings.model_fields["shutdown_timeout_s"].default + 10
    assert seconds(one("TimeoutStartSec")) >= 2 * Settings.model_fields["whatsapp_ready_timeout_s"].default
    assert one("User") == one("Group") == "whatsapp-bot"
    assert unit[("Service", "EnvironmentFile")][0] == "/etc/whatsapp-bot/bot.env"
    environment = " ".join(unit[("Service", "Environment")]).split()
    state = one("StateDirectory")
    assert f"SESSIONS_DIR=%S/{state}/sessions" in environment  # the profile lives in the state directory
    assert one("StateDirectoryMode") == "0700" and one("UMask") == "0077"
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
    }.items():
        assert one(key) == value, key
    assert one("MemoryMax")
    # Chromium: V8 writes code it then runs; its sandbox needs user namespaces.
    assert ("Service", "MemoryDenyWriteExecute") not in unit and ("Service", "RestrictNamespaces") not in unit
    assert ("Service", "ReadWritePaths") not in unit  # nothing besides the state directory is written


def test_the_template_keeps_accounts_apart() -> None:
    unit = directives((SHIPPED_DIR / TEMPLATE_UNIT).read_text(encoding="utf-8"))
    environment = " ".join(unit[("Service", "Environment")]).split()
    assert "ACCOUNT=%i" in environment and "MONGODB_DATABASE=whatsapp_bot_%i" in environment
    assert unit[("Service", "StateDirectory")] == ["whatsapp-bot/%i"]
    assert "SESSIONS_DIR=%S/whatsapp-bot/%i/sessions" in environment
    assert unit[("Service", "EnvironmentFile")] == ["/etc/whatsapp-bot/bot.env", "-/etc/whatsapp-bot/%i.env"]


@needs_systemd_analyze
@pytest.mark.parametrize(
    ("name", "verified"), [(SINGLE_UNIT, SINGLE_UNIT), (TEMPLATE_UNIT, "whatsapp-bot@shop.service")]
)
def test_shipped_units_verify_with_real_paths(name: str, verified: str, tmp_path: Path) -> None:
    (tmp_path / name).write_text(render_unit((SHIPPED_DIR / name).read_text(encoding="utf-8"), HERE))
    verify(tmp_path / verified)


@needs_systemd_analyze
def test_verify_would_catch_a_broken_unit(tmp_path: Path) -> None:
    broken = UnitPaths(root=PROJECT_ROOT, python=tmp_path / "no-such-python")
    (tmp_path / SINGLE_UNIT).write_text(render_unit((SHIPPED_DIR / SINGLE_UNIT).read_text(encoding="utf-8"), broken))
    with pytest.raises(AssertionError, match="not executable"):
        verify(tmp_path / SINGLE_UNIT)
    (tmp_path / SINGLE_UNIT).write_text(
        render_unit((SHIPPED_DIR / SINGLE_UNIT).read_text(encoding="utf-8"), HERE) + "[Service]\nWatchdogSec=soon\n"
    )
    with pytest.raises(AssertionError, match="WatchdogSec|soon"):
        verify(tmp_path / SINGLE_UNIT)


def test_render_puts_in_this_checkout_and_nothing_of_opt() -> None:
    paths = UnitPaths(
        root=Path("/srv/bots/opt/whatsapp-bot"),  # contains the shipped path: substituted once, not twice
        python=Path("/srv/bots/opt/whatsapp-bot/.venv/bin/python"),
        user="bot",
        env_file=Path("/etc/bot-100%/main.env"),
    )
    text = render_unit((SHIPPED_DIR / TEMPLATE_UNIT).read_text(encoding="utf-8"), paths)
    unit = directives(text)
    assert unit[("Service", "ExecStart")] == [
        "/srv/bots/opt/whatsapp-bot/.venv/bin/python /srv/bots/opt/whatsapp-bot/run_bot.py run"
    ]
    assert unit[("Service", "WorkingDirectory")] == ["/srv/bots/opt/whatsapp-bot"]
    assert unit[("Service", "User")] == unit[("Service", "Group")] == ["bot"]
    assert unit[("Service", "EnvironmentFile")] == ["/etc/bot-100%%/main.env", "-/etc/bot-100%%/%i.env"]
    assert "/etc/whatsapp-bot" not in text and "=/opt/whatsapp-bot" not in text


@pytest.mark.parametrize(
    ("paths", "complaint"),
    [
        (UnitPaths(root=Path("/srv/my bot")), "contains a space"),
        (UnitPaths(env_file=Path("bot.env")), "absolute"),
        (UnitPaths(user="Root Admin"), "not a user name"),
    ],
)
def test_render_refuses_what_a_unit_cannot_hold(paths: UnitPaths, complaint: str) -> None:
    with pytest.raises(ToolError, match=complaint):
        render_unit((SHIPPED_DIR / SINGLE_UNIT).read_text(encoding="utf-8"), paths)


def test_one_off_commands_run_as_the_service_does() -> None:
    text = render_unit((SHIPPED_DIR / TEMPLATE_UNIT).read_text(encoding="utf-8"), HERE)
    properties = dict(service_properties(text, "shop"))
    assert properties["User"] == "whatsapp-bot" and properties["StateDirectory"] == "whatsapp-bot/shop"
    command = run_as_service(text, "shop", HERE, "login")
    assert command.startswith("sudo systemd-run --pty ")
    assert "'Environment=ACCOUNT=shop MONGODB_DATABASE=whatsapp_bot_shop'" in command
    assert "SESSIONS_DIR=/var/lib/whatsapp-bot/shop/sessions" in command
    assert "-p EnvironmentFile=-/etc/whatsapp-bot/shop.env" in command
    assert command.endswith(f"{sys.executable} {PROJECT_ROOT / 'run_bot.py'} login")


def test_write_refuses_clearly_when_it_cannot_write(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="is not a folder"):
        write_unit(None, HERE, tmp_path / "missing")
    (tmp_path / SINGLE_UNIT).mkdir()  # something in the way that even root cannot write over
    with pytest.raises(ToolError, match=f"cannot write {tmp_path / SINGLE_UNIT}: .*sudo"):
        write_unit(None, HERE, tmp_path)


@needs_systemd_analyze
async def test_install_service_writes_a_unit_that_verifies(tmp_path: Path) -> None:
    code, stdout, stderr = await run_bot("install-service", "--output", str(tmp_path), cwd=tmp_path)
    assert code == 0, stderr
    unit = tmp_path / SINGLE_UNIT
    assert stdout.startswith(f"Wrote {unit} (project {PROJECT_ROOT}, Python {sys.executable}, user whatsapp-bot)")
    assert unit.stat().st_mode & 0o777 == 0o644
    assert directives(unit.read_text())[("Service", "ExecStart")] == [
        f"{sys.executable} {PROJECT_ROOT / 'run_bot.py'} run"
    ]
    verify(unit)
    # The next steps, in order: the user, the private settings file, doctor and login as the service, start.
    steps = [
        "useradd --system",
        "install -m 0600",
        "sudoedit /etc/whatsapp-bot/bot.env",
        "run_bot.py doctor",
        "run_bot.py login",
        "systemctl daemon-reload",
        "systemctl enable --now whatsapp-bot",
    ]
    positions = [stdout.find(step) for step in steps]
    assert -1 not in positions and positions == sorted(positions), stdout


async def install_service(*args: str) -> None:
    """The command in this process (the one above runs it as the operator does)."""
    parsed = build_parser().parse_args(["install-service", *args])
    await parsed.handler(parsed, Settings(_env_file=None))  # type: ignore[call-arg]


@needs_systemd_analyze
async def test_install_service_for_one_of_several_accounts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    await install_service(
        "--instance", "shop", "--user", "bots", "--env-file", "/etc/bots/common.env", "--output", str(tmp_path)
    )
    stdout = capsys.readouterr().out
    unit = directives((tmp_path / TEMPLATE_UNIT).read_text())
    assert unit[("Service", "User")] == ["bots"]
    assert unit[("Service", "EnvironmentFile")] == ["/etc/bots/common.env", "-/etc/bots/%i.env"]
    verify(tmp_path / "whatsapp-bot@shop.service")
    assert "sudo systemctl enable --now whatsapp-bot@shop" in stdout
    assert "sudoedit /etc/bots/shop.env" in stdout


async def test_install_service_refusals(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="is not a folder"):
        await install_service("--output", str(tmp_path / "nowhere"))
    with pytest.raises(ToolError, match="--instance 'a/b'"):
        await install_service("--instance", "a/b", "--output", str(tmp_path))
    assert ToolError.exit_code == EXIT_SETTINGS
    assert not any(tmp_path.iterdir())  # nothing written

"""`doctor`: each check on a good and a broken set-up, and the command's report and exit code."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.errors import EXIT_ENVIRONMENT
from bot.settings import MEMORY_URI, PROJECT_ROOT, Settings
from bot.simulator import Simulator
from bot.simulator.client import SimulatorClient
from bot.storage import Database
from bot.tools.doctor import (
    DISK_FAIL_BELOW,
    DISK_WARN_BELOW,
    CheckResult,
    Status,
    check_chromium,
    check_gemini,
    check_mongodb,
    check_profile,
    check_wa_js,
    clock_verdict,
    disk_verdict,
    doctor,
    format_report,
    missing_indexes,
    ntp_synchronized,
)
from tests.cli_helpers import run_bot

FAKE_PASSWORD = "not-a-real-password"


def settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, sessions_dir=tmp_path / "sessions", **values)  # type: ignore[call-arg]


async def test_chromium_found_and_launched(tmp_path: Path) -> None:
    result = await check_chromium(settings(tmp_path))
    assert result.status is Status.OK, result.line()
    assert "starts headless" in result.detail and "version" in result.detail


async def test_chromium_missing_or_broken(tmp_path: Path) -> None:
    missing = await check_chromium(settings(tmp_path, browser_executable=tmp_path / "nothing"))
    assert missing.status is Status.FAIL and "does not exist" in missing.detail and missing.fix

    broken = tmp_path / "chromium"
    broken.write_text("#!/bin/sh\necho 'libnss3.so: cannot open shared object file' >&2\nexit 127\n")
    broken.chmod(0o755)
    result = await check_chromium(settings(tmp_path, browser_executable=broken))
    assert result.status is Status.FAIL and result.detail.startswith("Chromium does not start headless")
    assert result.fix is not None and "apt-get install chromium" in result.fix


def test_wa_js_installed_with_its_version(tmp_path: Path) -> None:
    pinned = json.loads((PROJECT_ROOT / "package.json").read_text())["dependencies"]["@wppconnect/wa-js"]
    result = check_wa_js(settings(tmp_path))
    assert result.status is Status.OK and f"version {pinned}" in result.detail


def test_wa_js_missing_or_not_the_pinned_version(tmp_path: Path) -> None:
    missing = check_wa_js(settings(tmp_path, wa_js_path=tmp_path / "nothing.js"))
    assert missing.status is Status.FAIL and missing.fix is not None and "npm ci" in missing.fix

    package = tmp_path / "node_modules" / "@wppconnect" / "wa-js"
    (package / "dist").mkdir(parents=True)
    (package / "dist" / "wppconnect-wa.js").write_text("window.WPP = {};")
    (package / "package.json").write_text(json.dumps({"name": "@wppconnect/wa-js", "version": "3.0.0"}))
    old = check_wa_js(settings(tmp_path, wa_js_path=package / "dist" / "wppconnect-wa.js"))
    assert old.status is Status.WARN and "version 3.0.0 installed, package.json pins" in old.detail


async def test_mongodb_not_set_or_in_memory(tmp_path: Path) -> None:
    unset = await check_mongodb(settings(tmp_path))
    assert unset.status is Status.FAIL and "MONGODB_URI is not set" in unset.detail
    memory = await check_mongodb(settings(tmp_path, mongodb_uri=MEMORY_URI))
    assert memory.status is Status.WARN and "keeps nothing" in memory.detail


async def test_mongodb_unreachable_without_showing_the_password(tmp_path: Path) -> None:
    uri = f"mongodb://bot:{FAKE_PASSWORD}@127.0.0.1:9/?directConnection=true"
    result = await check_mongodb(settings(tmp_path, mongodb_uri=uri, mongodb_timeout_s=1.0))
    assert result.status is Status.FAIL and "unreachable" in result.detail
    assert FAKE_PASSWORD not in result.line()


async def test_mongodb_with_the_bots_indexes(db: Database, mongodb_uri: str, tmp_path: Path) -> None:
    result = await check_mongodb(settings(tmp_path, mongodb_uri=mongodb_uri, mongodb_database=db.name))
    if db.in_memory:
        assert result.status is Status.WARN  # the in-memory lane: nothing to connect to
    else:
        assert result.status is Status.OK and "all indexes present" in result.detail, result.line()
    assert await missing_indexes(db) == []


async def test_missing_indexes_are_named(mongodb_uri: str) -> None:
    fresh = await Database.connect(mongodb_uri, f"test_{uuid.uuid4().hex[:12]}", timeout_s=5.0)
    try:
        missing = await missing_indexes(fresh)
        assert "messages.wa_id_unique" in missing and "messages.contact_history" in missing
        await fresh.ensure_indexes()
        assert await missing_indexes(fresh) == []
    finally:
        if not fresh.in_memory:
            await fresh.drop()
        await fresh.close()


async def test_gemini_key_unset_or_not_tried(tmp_path: Path) -> None:
    unset = await check_gemini(settings(tmp_path), call=True)
    assert unset.status is Status.FAIL and "GEMINI_API_KEY is not set" in unset.detail
    untried = await check_gemini(settings(tmp_path, gemini_api_key="k"), call=False)
    assert untried.status is Status.SKIP and "--check-gemini" in untried.detail


async def test_gemini_key_tried(tmp_path: Path, simulator: Simulator, sim: SimulatorClient) -> None:
    config = settings(tmp_path, gemini_api_key="k", gemini_base_url=simulator.gemini_base_url, ai_retry_initial_s=0.01)
    assert (await check_gemini(config, call=True)).status is Status.OK
    await sim.gemini_behaviour(fail_next=1, status=403)
    refused = await check_gemini(config, call=True)
    assert refused.status is Status.FAIL and "refused the API key" in refused.detail
    assert refused.fix is not None and "GEMINI_API_KEY" in refused.fix
    await sim.gemini_behaviour(fail_next=10, status=503)
    down = await check_gemini(config, call=True)
    assert down.status is Status.FAIL and "unreachable" in down.detail and down.fix and "try again" in down.fix
    assert await sim.gemini_requests() == []  # a model lookup only: no tokens spent


def test_profile_folder_private_and_ours(tmp_path: Path) -> None:
    config = settings(tmp_path)
    assert "will be created" in check_profile(config).detail
    config.profile_dir.mkdir(mode=0o700, parents=True)
    config.sessions_dir.chmod(0o700)
    assert check_profile(config).status is Status.OK

    config.profile_dir.chmod(0o755)
    loose = check_profile(config)
    assert loose.status is Status.WARN and "0755" in loose.detail and loose.fix == f"chmod 700 {config.profile_dir}"


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_profile_folder_of_another_user(tmp_path: Path) -> None:
    config = settings(tmp_path)
    config.profile_dir.mkdir(mode=0o700, parents=True)
    config.sessions_dir.chmod(0o700)
    os.chown(config.profile_dir, 12345, 12345)
    result = check_profile(config)
    assert result.status is Status.FAIL and "belongs to uid 12345" in result.detail
    assert result.fix is not None and "run doctor as the bot's user" in result.fix


def test_disk_space_thresholds(tmp_path: Path) -> None:
    assert disk_verdict(DISK_FAIL_BELOW - 1, tmp_path).status is Status.FAIL
    assert disk_verdict(DISK_WARN_BELOW - 1, tmp_path).status is Status.WARN
    ok = disk_verdict(DISK_WARN_BELOW, tmp_path)
    assert ok.status is Status.OK and ok.detail == f"2.0 GB free at {tmp_path}"


def test_clock_verdicts() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    unset = clock_verdict(datetime(1970, 1, 1, tzinfo=UTC), synchronized=None)
    assert unset.status is Status.FAIL and "never set" in unset.detail
    assert clock_verdict(now, synchronized=False).status is Status.WARN
    assert clock_verdict(now, synchronized=True).detail == "2026-03-01 12:00 UTC, synchronised with NTP"
    assert clock_verdict(now, synchronized=None).status is Status.OK


def test_ntp_state_from_timedatectl() -> None:
    def answering(stdout: str, code: int = 0) -> Any:
        def run(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
            assert command[:2] == ["timedatectl", "show"]
            return subprocess.CompletedProcess(command, code, stdout, "")

        return run

    def missing(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError(command[0])

    assert ntp_synchronized(answering("yes\n")) is True
    assert ntp_synchronized(answering("no\n")) is False
    # In a container: "System has not been booted with systemd as init system".
    assert ntp_synchronized(answering("", code=1)) is None
    assert ntp_synchronized(missing) is None


def test_report_lines() -> None:
    report = format_report(
        [
            CheckResult(name="chromium", status=Status.OK, detail="fine"),
            CheckResult(name="mongodb", status=Status.FAIL, detail="down", fix="start it"),
        ]
    )
    assert report.splitlines() == [
        "ok    chromium: fine",
        "FAIL  mongodb: down",
        "        fix: start it",
        "",
        "1 to fix, 0 worth a look",
    ]


async def test_doctor_passes_a_good_set_up(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = settings(tmp_path, mongodb_uri=MEMORY_URI, gemini_api_key="k")
    await doctor(argparse.Namespace(check_gemini=False), config)  # WARN and skip are not failures
    lines = [line for line in capsys.readouterr().out.splitlines() if not line.startswith(" ")]  # fixes indented
    assert [line.split(":")[0] for line in lines[:7]] == [
        "ok    chromium",
        "ok    wa-js",
        "WARN  mongodb",
        "skip  gemini",
        "ok    profile folder",
        lines[5].split(":")[0],  # the disk is this machine's
        "ok    clock",
    ]


async def test_doctor_command_exits_3_when_something_fails(tmp_path: Path) -> None:
    code, stdout, stderr = await run_bot("doctor", cwd=tmp_path, SESSIONS_DIR=str(tmp_path / "sessions"))
    assert code == EXIT_ENVIRONMENT, stderr
    assert "FAIL  mongodb: MONGODB_URI is not set" in stdout and "FAIL  gemini: GEMINI_API_KEY is not set" in stdout
    assert stderr.strip().splitlines()[-1] == "error: doctor: mongodb, gemini must be fixed first (see above)"

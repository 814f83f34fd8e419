"""The run's store: what the results record of it, and the databases a run owns."""

from __future__ import annotations

from bench import store


def test_the_store_is_recorded_without_credentials_or_options() -> None:
    assert store.describe("memory://") == "memory"
    assert store.describe("mongodb://bot:s3cret@db.example:27017/app?authSource=admin") == "mongodb://db.example:27017"
    assert store.describe("mongodb+srv://u:p@cluster0.example.net/") == "mongodb+srv://cluster0.example.net"
    assert store.describe("mongodb://h1:1,h2:2/?replicaSet=rs") == "mongodb://h1:1,h2:2"


def test_database_names_are_the_runs_own_and_valid_for_mongodb() -> None:
    assert store.database_name("20261130-220000") == "bench_20261130_220000"
    assert store.database_name("my run/1.0", "floor") == "bench_my_run_1_0_floor"
    assert len(store.database_name("x" * 200, "ready")) <= 63


async def test_dropping_on_the_memory_store_needs_no_server() -> None:
    await store.drop("memory://", "bench_anything")

"""Policies that keep the daemon going when a service it calls is slow or failing: retries (circuit breakers later)."""

from bot.resilience.retry import parse_retry_after, retry_policy

__all__ = ["parse_retry_after", "retry_policy"]

"""Policies that keep the daemon going when a service it calls is slow or failing: retries and circuit breakers."""

from bot.resilience.breaker import BreakerState, CircuitBreaker
from bot.resilience.retry import parse_retry_after, retry_policy

__all__ = ["BreakerState", "CircuitBreaker", "parse_retry_after", "retry_policy"]

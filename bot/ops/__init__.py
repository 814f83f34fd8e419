"""Operations: logging, background task ownership (later: scheduler, health, status server)."""

"""Fixtures the extension's host-app tests share."""

from __future__ import annotations

import pytest
import redis


@pytest.fixture(params=["cachelib", pytest.param("redis", marks=[pytest.mark.slow, pytest.mark.redis])])
def store_config(request) -> dict:
    """A host's settings for each store: the file store, and a real redis-server emptied first."""
    if request.param == "cachelib":
        return {}
    server = request.getfixturevalue("redis_server")
    redis.Redis.from_url(server.url).flushdb()
    return {"SESSION_TYPE": "redis", "GOOGLE_SIGNIN_REDIS_URL": server.url}

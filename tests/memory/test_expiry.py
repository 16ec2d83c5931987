"""Active and lazy expiry, TTL precision."""

from __future__ import annotations

import pytest

from redislab.errors import MemoryLabError
from redislab.memory import lazy_expiry, mass_expiry, ttl_lateness


def test_active_expiry_reclaims(r):
    df = mass_expiry(r, n_keys=3000, ttl_ms=200, duration=1.5)
    assert df["keys"].iloc[-1] == 0 and df.expired_keys.iloc[-1] == 3000


def test_without_active_expiry_keys_stay(r):
    df = mass_expiry(r, n_keys=1000, ttl_ms=100, duration=0.5, active=False)
    assert df["keys"].iloc[-1] == 1000


def test_lazy_expiry_one_per_read(r):
    res = lazy_expiry(r, n_keys=200, touch=50)
    assert res["expired_keys_by_reads"] == 50 and res["dbsize_after_reads"] == 150
    with pytest.raises(MemoryLabError):
        lazy_expiry(r, n_keys=1, touch=2)


def test_ttl_never_early(r):
    df = ttl_lateness(r, ttl_ms=50, trials=3)
    assert (df.first_gone_ms >= 49).all() and (df.pttl_at_set <= 50).all()

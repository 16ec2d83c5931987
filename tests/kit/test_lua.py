"""redislab.kit.lua: a script is registered once per connection pool and runs by SHA."""

from __future__ import annotations

import pytest

from redislab.errors import UsageError
from redislab.kit.lua import script, sha1

INCR_BY_TWO = """
-- KEYS[1]: the counter; returns its new value
return redis.call('INCRBY', KEYS[1], 2)
"""


def test_registered_once_and_loaded_under_its_sha(standalone_lab) -> None:
    r = standalone_lab.client()
    s1 = script(r, INCR_BY_TWO)
    assert script(r, INCR_BY_TWO) is s1 and s1.sha == sha1(INCR_BY_TWO)
    assert s1(keys=["redislab:test:lua"]) == 2
    assert r.script_exists(s1.sha) == [True]  # EVALSHA fell back to loading it once
    r.delete("redislab:test:lua")


def test_a_script_without_keys_or_argv_is_refused(standalone_lab) -> None:
    with pytest.raises(UsageError):
        script(standalone_lab.client(), "return 1")

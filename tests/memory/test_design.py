"""Compression, key-name cost and bucketing."""

from __future__ import annotations

from redislab.memory import bucketed_vs_plain, compression_table, key_length_cost, sample_value


def test_sample_value_seeded():
    assert sample_value("json", 300, seed=1) == sample_value("json", 300, seed=1)
    assert len(sample_value("random", 100)) == 100


def test_compression_saves_on_json_not_random(r):
    t = compression_table(r, sizes=(8192,), codecs=["zlib-1"], repeats=1).set_index("kind")
    assert t.loc["json", "saved_share"] > 0.5
    assert t.loc["random", "saved_share"] <= 0.01
    assert t.loc["random", "raw_bytes"] >= 8192


def test_long_names_cost_more(r):
    df = key_length_cost(r, n_keys=2000, lengths=(32, 160))
    assert df.bytes_per_key.iloc[1] - df.bytes_per_key.iloc[0] > 100


def test_buckets_save(r):
    res = bucketed_vs_plain(r, n_items=5000, bucket_size=100)
    assert res["bucket_encoding"] == "listpack" and res["ratio"] > 2

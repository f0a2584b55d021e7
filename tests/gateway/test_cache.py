import asyncio

from gateway.cache import MemoryCache, NearCache, RedisCache, cache_key, create_cache
from tests.support.processes import free_port


def test_key_changes_with_everything_that_changes_the_answer() -> None:
    base = cache_key("digit", "cnn", "1.0.0", "p1", b"image")
    assert base != cache_key("captcha", "cnn", "1.0.0", "p1", b"image")
    assert base != cache_key("digit", "lenet5", "1.0.0", "p1", b"image")
    assert base != cache_key("digit", "cnn", "1.0.1", "p1", b"image")
    assert base != cache_key("digit", "cnn", "1.0.0", "p2", b"image")
    assert base != cache_key("digit", "cnn", "1.0.0", "p1", b"imagf")
    assert base == cache_key("digit", "cnn", "1.0.0", "p1", b"image")
    # Options the recognizer reads are part of the answer; their order is not.
    with_mode = cache_key("meter", "m", "1", "p", b"image", {"mode": "window", "wheels": "5"})
    assert with_mode == cache_key("meter", "m", "1", "p", b"image", {"wheels": "5", "mode": "window"})
    assert with_mode != cache_key("meter", "m", "1", "p", b"image", {"mode": "photo", "wheels": "5"})
    assert cache_key("meter", "m", "1", "p", b"image", {}) == cache_key("meter", "m", "1", "p", b"image")
    # The same version with other model files (replaced without bumping the card) is another model.
    fingerprinted = cache_key("digit", "cnn", "1.0.0", "p1", b"image", fingerprint="0123456789ab")
    assert fingerprinted != base
    assert fingerprinted != cache_key("digit", "cnn", "1.0.0", "p1", b"image", fingerprint="ba9876543210")


async def test_memory_cache_evicts_least_recently_used() -> None:
    cache = MemoryCache(max_items=2, ttl_s=60)
    await cache.set("a", b"1")
    await cache.set("b", b"2")
    assert await cache.get("a") == b"1"  # a is now the most recent
    await cache.set("c", b"3")
    assert await cache.get("b") is None
    assert await cache.get("a") == b"1" and await cache.get("c") == b"3"


async def test_memory_cache_expires() -> None:
    cache = MemoryCache(max_items=10, ttl_s=0.05)
    await cache.set("a", b"1")
    assert await cache.get("a") == b"1"
    await asyncio.sleep(0.08)
    assert await cache.get("a") is None


async def test_redis_cache_without_a_server_degrades_quickly() -> None:
    cache = RedisCache(f"redis://127.0.0.1:{free_port()}/0", ttl_s=60, retry_s=10)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await cache.get("k") is None
    await cache.set("k", b"v")  # skipped: within the retry interval
    assert loop.time() - started < 1
    status = await cache.status()
    assert status["status"] == "degraded" and "error" in status
    await cache.close()


async def test_near_cache_answers_from_memory_and_fills_from_redis(redis_server) -> None:
    import redis as redis_sync

    cache = create_cache(redis_server.url, ttl_s=60, max_items=10, retry_s=1, near_items=4, near_ttl_s=30)
    assert isinstance(cache, NearCache)
    await cache.set("near-test:a", b"1")
    assert redis_sync.Redis.from_url(redis_server.url).get("near-test:a") == b"1"  # written through
    redis_sync.Redis.from_url(redis_server.url).set("near-test:b", b"2")  # written by another gateway
    assert await cache.get("near-test:b") == b"2"
    assert len(cache.near) == 2  # ... and now held locally too
    assert (await cache.status())["status"] == "ok"
    await cache.close()


def test_without_redis_url_the_memory_cache_stands_in() -> None:
    assert isinstance(create_cache(None, ttl_s=60, max_items=10, retry_s=1, near_items=4), MemoryCache)

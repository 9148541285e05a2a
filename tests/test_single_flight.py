"""A missing cached value is built once while others asking for it wait
(common.cache._single_flight): no herd of identical builds after a renewal."""

from __future__ import annotations

import threading
import time
import uuid

from django.core.cache import cache

from common.cache import _single_flight, cached_build


def _together(count: int, action) -> list[object]:
    results: list[object] = [None] * count
    start = threading.Barrier(count)

    def run(index: int) -> None:
        start.wait()
        results[index] = action()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_eight_readers_of_a_missing_value_build_it_once():
    key = f"test:single-flight:{uuid.uuid4().hex}"
    builds = []

    def build() -> str:
        builds.append(1)
        time.sleep(0.2)
        return "page"

    assert _together(8, lambda: cached_build(key, build)) == ["page"] * 8
    assert len(builds) == 1
    assert cache.get(f"{key}:building") is None, "the mark is gone once it is built"


def test_a_value_built_but_not_stored_is_built_by_each_waiter():
    key = f"test:single-flight:{uuid.uuid4().hex}"
    builds = []

    def build_only() -> str:  # like a page that may not be cached (a 404, a message)
        builds.append(1)
        time.sleep(0.1)
        return "built"

    assert _together(3, lambda: _single_flight(key, build_only)) == ["built"] * 3
    assert len(builds) == 3


def test_a_failed_build_frees_the_others_to_build():
    key = f"test:single-flight:{uuid.uuid4().hex}"
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            time.sleep(0.05)
            raise RuntimeError("first build fails")
        cache.set(key, "page", 60)
        return "page"

    def ask() -> object:
        try:
            return _single_flight(key, flaky)
        except RuntimeError as error:
            return str(error)

    results = _together(2, ask)
    assert sorted(map(str, results)) == ["first build fails", "page"]
    assert cache.get(f"{key}:building") is None

"""The loops' bell: a ring ends a sleep on its topic, is remembered until the sleeper looks again,
and goes to other processes only when rung here."""

from __future__ import annotations

import threading
import time

from nsw_adapter.wakeup import Bell, Topic


def test_a_ring_ends_the_sleep_on_its_topic_only() -> None:
    bell = Bell()
    bell.arm(Topic.SUBMIT)
    bell.arm(Topic.OUTBOX)
    woke: list[bool] = []
    sleeper = threading.Thread(target=lambda: woke.append(bell.wait(Topic.SUBMIT, 30.0)))
    started = time.monotonic()
    sleeper.start()
    bell.ring(Topic.OUTBOX)
    sleeper.join(timeout=0.3)
    assert sleeper.is_alive()  # another topic's ring did not wake it
    bell.ring(Topic.SUBMIT)
    sleeper.join(timeout=10.0)
    assert woke == [True]
    assert time.monotonic() - started < 10.0


def test_a_ring_before_the_sleep_is_not_lost_and_arming_forgets_it() -> None:
    bell = Bell()
    bell.arm(Topic.CANCEL)
    bell.ring(Topic.CANCEL)  # rung while the loop was looking for work
    assert bell.wait(Topic.CANCEL, 0.0) is True
    bell.arm(Topic.CANCEL)  # the next look starts: earlier rings are forgotten
    assert bell.wait(Topic.CANCEL, 0.01) is False


def test_rings_rung_here_are_relayed_and_rings_heard_from_elsewhere_are_not() -> None:
    bell = Bell()
    relayed: list[Topic] = []
    bell.relay_to(relayed.append)
    bell.ring(Topic.SUBMIT, Topic.CANCEL)
    bell.ring_here(Topic.OUTBOX)
    assert relayed == [Topic.SUBMIT, Topic.CANCEL]
    assert bell.wait(Topic.OUTBOX, 0.0) is True


def test_ring_all_here_wakes_every_sleeper() -> None:
    bell = Bell()
    for topic in Topic:
        bell.arm(topic)
    bell.ring_all_here()
    assert all(bell.wait(topic, 0.0) for topic in Topic)


def test_a_ring_wakes_one_sleeper_not_every_thread_on_the_topic() -> None:
    """Four submit threads sleep on one topic: a push rings once, and one of them looks (four
    claims per push would cost the store more than the push itself)."""
    bell = Bell()
    bell.arm(Topic.SUBMIT)
    woken: list[str] = []
    lock = threading.Lock()

    def sleeper(name: str) -> None:
        if bell.wait(Topic.SUBMIT, 3.0):
            with lock:
                woken.append(name)

    threads = [threading.Thread(target=sleeper, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)  # all four asleep
    bell.ring(Topic.SUBMIT)
    for thread in threads:
        thread.join(timeout=10.0)
    assert len(woken) == 1

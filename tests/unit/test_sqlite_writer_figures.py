"""store/engine.py's WriterQueue counts how SQLite's one writer is used: queued, held, the holders' CPU."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from nsw_adapter.metrics import Metrics
from nsw_adapter.store.engine import WriterQueue, writer_figures


def _burn(seconds: float) -> None:
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


def test_a_hold_counts_its_wall_time_its_cpu_and_who_queued_behind_it(tmp_path: Path) -> None:
    queue = WriterQueue(str(tmp_path / "store.db"))
    holding = threading.Event()
    before = writer_figures()

    def holder() -> None:
        with queue:
            holding.set()
            with queue:  # a nested transaction is the same hold, counted once
                _burn(0.03)
            time.sleep(0.2)  # held without computing: the lock is busy, its holder is not

    def queued() -> None:
        holding.wait(5)
        with queue:
            pass

    threads = [threading.Thread(target=holder), threading.Thread(target=queued)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    queue.close()
    after = writer_figures()
    assert after.transactions - before.transactions == 2
    held = after.holding - before.holding
    cpu = after.holding_cpu - before.holding_cpu
    assert held >= 0.23
    assert 0.03 <= cpu < 0.15  # the holder's CPU, not its sleep
    assert after.waiting - before.waiting >= 0.15  # the second writer queued behind the first


def test_the_writer_figures_are_on_the_metrics_page(tmp_path: Path) -> None:
    queue = WriterQueue(str(tmp_path / "store.db"))
    with queue:
        _burn(0.002)
    queue.close()
    lines = Metrics().render().decode().splitlines()

    def value(prefix: str) -> float:
        return float(next(line for line in lines if line.startswith(prefix)).split()[-1])

    assert value('nsw_adapter_sqlite_writer_seconds_total{phase="holding"}') >= 0.002
    assert value('nsw_adapter_sqlite_writer_seconds_total{phase="holding_cpu"}') >= 0.002
    assert value('nsw_adapter_sqlite_writer_seconds_total{phase="waiting"}') >= 0
    # Read before writer_figures(): another test's threads may still be writing in this process.
    assert 1 <= value("nsw_adapter_sqlite_write_transactions_total") <= writer_figures().transactions

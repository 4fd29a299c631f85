"""nsw_adapter.cpu: thread CPU per stage of work, exported on /metrics."""

from __future__ import annotations

import time

from nsw_adapter import cpu
from nsw_adapter.metrics import Metrics


def _burn(seconds: float) -> None:
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


def test_a_stage_counts_its_threads_cpu_not_its_sleep() -> None:
    before = cpu.totals().get("test.stage", 0.0)
    with cpu.stage("test.stage"):
        _burn(0.02)
        time.sleep(0.1)  # waiting costs no CPU
    spent = cpu.totals()["test.stage"] - before
    assert 0.02 <= spent < 0.08


def test_a_counted_function_adds_each_call_and_returns_its_value() -> None:
    @cpu.counted("test.counted")
    def work(x: int) -> int:
        _burn(0.005)
        return x * 2

    before = cpu.totals().get("test.counted", 0.0)
    assert work(21) == 42
    assert work(1) == 2
    assert cpu.totals()["test.counted"] - before >= 0.01


def test_stages_are_on_the_metrics_page() -> None:
    with cpu.stage("test.exported"):
        _burn(0.001)
    page = Metrics().render().decode()
    line = next(
        x for x in page.splitlines() if x.startswith('nsw_adapter_cpu_seconds_total{stage="test.exported"}')
    )
    assert float(line.split()[-1]) > 0

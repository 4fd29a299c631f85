"""Fault SPEC parsing and the deterministic fault injector."""

from __future__ import annotations

import pytest

from nsw_adapter.simulators.faults import FaultInjector, FaultSpec, FaultSpecError, parse_fault_spec


def test_full_spec_parses() -> None:
    """Every item of the grammar is read into the FaultSpec."""
    spec = parse_fault_spec(
        "seed=7,http503=0.05,unavailable=0.05,latency=0.01-0.05,hang=0.01:5,reset=0.02,outage=10-20"
    )
    assert spec == FaultSpec(
        seed=7,
        http503=0.05,
        unavailable=0.05,
        reset=0.02,
        hang=0.01,
        hang_seconds=5.0,
        latency=(0.01, 0.05),
        outages=((10.0, 20.0),),
    )


@pytest.mark.parametrize("spec", [None, "", "none", " off "])
def test_empty_spec_injects_nothing(spec: str | None) -> None:
    """No spec, an empty one, `none` or `off` mean no faults at all."""
    parsed = parse_fault_spec(spec)
    assert not parsed.active
    assert FaultInjector(parsed).decide().kind == "none"


def test_fixed_latency_with_share_and_repeated_outages() -> None:
    """A fixed latency may apply to a share; outage may be given more than once."""
    spec = parse_fault_spec("latency=0.2@0.5,outage=1-2,outage=5-6")
    assert spec.latency == (0.2, 0.2)
    assert spec.latency_share == 0.5
    assert spec.outages == ((1.0, 2.0), (5.0, 6.0))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("http503", "NAME=VALUE"),
        ("http503=abc", "not a number"),
        ("http503=1.5", "between 0 and 1"),
        ("reset=-0.1", ">= 0"),
        ("hang=0.1", "SHARE:SECONDS"),
        ("latency=0.5-0.1", "before its start"),
        ("outage=10", "START-END"),
        ("outage=3-3", "empty"),
        ("seed=x", "integer"),
        ("http503=0.6,unavailable=0.6", "more than 1"),
        ("teapot=0.1", "unknown fault"),
        ("reset=0.1,reset=0.2", "twice"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: str, message: str) -> None:
    """A SPEC that breaks the grammar raises FaultSpecError naming the problem."""
    with pytest.raises(FaultSpecError, match=message):
        parse_fault_spec(spec)


def test_same_seed_same_sequence() -> None:
    """Two injectors with the same seed decide the same faults in the same order."""
    spec = parse_fault_spec("seed=3,http503=0.2,unavailable=0.2,reset=0.1,hang=0.1:1,latency=0-0.1")
    one, two = FaultInjector(spec), FaultInjector(spec)
    first = [one.decide() for _ in range(200)]
    assert first == [two.decide() for _ in range(200)]
    other = FaultInjector(
        parse_fault_spec("seed=4,http503=0.2,unavailable=0.2,reset=0.1,hang=0.1:1,latency=0-0.1")
    )
    assert first != [other.decide() for _ in range(200)]


def test_shares_are_roughly_honoured_and_counted() -> None:
    """Over many requests each kind occurs about as often as its share, and the counts say so."""
    injector = FaultInjector(parse_fault_spec("seed=1,http503=0.1,unavailable=0.2,reset=0.05,hang=0.05:2"))
    kinds = [injector.decide().kind for _ in range(10_000)]
    assert 800 < kinds.count("http503") < 1200
    assert 1800 < kinds.count("unavailable") < 2200
    assert 350 < kinds.count("reset") < 650
    assert 350 < kinds.count("hang") < 650
    counts = injector.snapshot()
    assert counts["http503"] == kinds.count("http503")
    assert counts["hang"] == kinds.count("hang")


def test_latency_range_is_respected() -> None:
    """Random latency stays within its range and applies to every request by default."""
    injector = FaultInjector(parse_fault_spec("seed=2,latency=0.01-0.05"))
    delays = [injector.decide().delay for _ in range(500)]
    assert all(0.01 <= delay <= 0.05 for delay in delays)
    assert max(delays) - min(delays) > 0.03


def test_outage_window_follows_the_clock() -> None:
    """Inside the outage window every request is an outage; before and after it none is."""
    now = [100.0]
    injector = FaultInjector(parse_fault_spec("outage=10-20"), clock=lambda: now[0])
    injector.start()
    now[0] = 105.0
    assert injector.decide().kind == "none"
    now[0] = 110.0
    assert injector.decide().kind == "outage"
    now[0] = 119.9
    assert injector.decide().kind == "outage"
    now[0] = 120.0
    assert injector.decide().kind == "none"


def test_reset_starts_the_sequence_over() -> None:
    """After reset() the injector repeats its sequence from the start and its counts are zero."""
    injector = FaultInjector(parse_fault_spec("seed=9,http503=0.5"))
    first = [injector.decide().kind for _ in range(50)]
    injector.reset()
    assert injector.snapshot()["http503"] == 0
    assert [injector.decide().kind for _ in range(50)] == first

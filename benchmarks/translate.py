"""Benchmark: nsw_adapter.translate against a plain-lxml floor doing the same work in C.

Run: .venv/bin/python benchmarks/translate.py [--repeat N]

Dossiers come from nsw_adapter.fixtures: 25 crew (no passengers), and 25 crew with 10,000
passengers. The floor: parse every message (hardened settings), validate each against
envelope.xsd, move the Content documents under one wrapper, run benchmarks/floor.xslt (the
mapping in XSLT 1.0), serialize, validate the result against submission.xsd. Times are the
median of N runs in this process, both pipelines interleaved so machine load hits both alike.
Peak memory: Python allocations (tracemalloc) in a separate, untimed run, and the process's
maximum resident set size.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import string
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path

from lxml import etree

from nsw_adapter import translate
from nsw_adapter.codelists import codelists
from nsw_adapter.fixtures import generate_dossier
from nsw_adapter.names import _fold
from nsw_adapter.xml import schema

HERE = Path(__file__).resolve().parent
CLIENT_MESSAGE_ID = "benchmark-0001"


def _fold_table() -> tuple[str, str]:
    """translate() strings for the floor: Latin letters -> base letter, punctuation -> space.

    libxslt's translate() scans the table for every character, so the common characters come
    first (a fair floor is a fast one).
    """
    source = [" ", *string.ascii_lowercase, *string.ascii_uppercase, *string.digits, *"-.,/()"]
    target = [" ", *string.ascii_uppercase, *string.ascii_uppercase, *string.digits, *"      "]
    for code in list(range(0xC0, 0x250)) + list(range(0x1E00, 0x1F00)):
        char = chr(code)
        folded = _fold(char).upper()
        if len(folded) == 1 and folded in string.ascii_uppercase:
            source.append(char)
            target.append(folded)
    return "".join(source), "".join(target)


class Floor:
    """The plain-lxml pipeline: parse, validate, XSLT, serialize, validate."""

    def __init__(self) -> None:
        self.errors = 0
        self.stages: list[dict[str, float]] = []  # CPU seconds per stage, one dict per call
        self.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
        )
        self.envelope = schema("envelope")
        self.submission = schema("submission")
        self.xslt = etree.XSLT(etree.parse(str(HERE / "floor.xslt")))
        fold_from, fold_to = _fold_table()
        self.params = {
            "from": etree.XSLT.strparam(fold_from),
            "to": etree.XSLT.strparam(fold_to),
            "client-message-id": etree.XSLT.strparam(CLIENT_MESSAGE_ID),
        }
        lists = codelists()
        codes = etree.Element("Codes")
        for code, icao in lists.icao_by_code.items():
            etree.SubElement(
                codes, "Country", code=code, icao=icao, alpha3=lists.alpha3_by_code.get(code, "")
            )
        for locode, station in lists.station_by_locode.items():
            etree.SubElement(codes, "Gate", locode=locode, station=station)
        self.codes = codes

    def __call__(self, documents: Sequence[bytes]) -> bytes:
        clock = time.process_time
        stages = dict.fromkeys(("parse", "validate", "xslt", "serialize", "validate output"), 0.0)
        wrapper = etree.Element("Dossier")
        for data in documents:
            started = clock()
            root = etree.fromstring(data, self.parser)
            stages["parse"] += clock() - started
            started = clock()
            if not self.envelope.validate(root):
                raise AssertionError("invalid input")
            stages["validate"] += clock() - started
            subject = root.find("Header/Subject")
            assert subject is not None
            wrapper.set("reference", subject.findtext("reference") or "")
            wrapper.set("documentType", subject.findtext("documentType") or "")
            content = root.find("Body/Content")
            assert content is not None
            wrapper.append(content[0])
        wrapper.append(etree.fromstring(etree.tostring(self.codes)))
        started = clock()
        result = self.xslt(wrapper, **self.params)  # type: ignore[arg-type]  # lxml-stubs: params are str
        stages["xslt"] += clock() - started
        started = clock()
        output = bytes(result)
        stages["serialize"] += clock() - started
        started = clock()
        # XSLT 1.0 cannot transliterate Greek or Cyrillic names; those few errors are counted,
        # the validation is paid in full all the same.
        self.errors = 0 if self.submission.validate(result) else len(self.submission.error_log)  # type: ignore[arg-type]  # lxml-stubs: _ErrorLog is sized
        stages["validate output"] += clock() - started
        self.stages.append(stages)
        return output


def _time(function: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU) seconds of one call; CPU time shows less of other processes' load."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def _peak_python_bytes(function: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    function()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def _run(name: str, documents: Sequence[bytes], floor: Floor, repeat: int) -> tuple[float, float, float]:
    def ours() -> object:
        result = translate(documents, client_message_id=CLIENT_MESSAGE_ID)
        if result.submission is None:
            raise AssertionError(f"{name}: {result.problems[:3]}")
        return result

    ours()  # warm-up: code lists, schemas, compiled mapping
    floor(documents)
    floor.stages.clear()
    ours_times, floor_times = [], []
    for _ in range(repeat):
        ours_times.append(_time(ours))
        floor_times.append(_time(lambda: floor(documents)))
    ours_ms = statistics.median(t[0] for t in ours_times) * 1000
    floor_ms = statistics.median(t[0] for t in floor_times) * 1000
    ours_cpu = statistics.median(t[1] for t in ours_times) * 1000
    floor_cpu = statistics.median(t[1] for t in floor_times) * 1000
    peak = _peak_python_bytes(ours)
    size = sum(len(d) for d in documents)
    print(f"{name} (input {size / 1e6:.2f} MB, median of {repeat})")
    print(
        f"  wall: translate {ours_ms:8.2f} ms | floor {floor_ms:8.2f} ms | ratio {ours_ms / floor_ms:4.2f}x"
    )
    print(
        f"  CPU:  translate {ours_cpu:8.2f} ms | floor {floor_cpu:8.2f} ms"
        f" | ratio {ours_cpu / floor_cpu:4.2f}x"
    )
    breakdown = ", ".join(
        f"{stage} {statistics.median(run[stage] for run in floor.stages) * 1000:.1f}"
        for stage in floor.stages[0]
    )
    print(f"  floor stages, CPU ms: {breakdown}")
    print(
        f"  translate peak Python memory (tracemalloc) {peak / 1e6:.1f} MB;"
        f" floor schema errors {floor.errors}"
    )
    return ours_ms, floor_ms, ours_cpu


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per pipeline (median reported)")
    args = parser.parse_args(argv)
    floor = Floor()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (figures swing with it)")
    small = [data for _, data in generate_dossier(crew=25, seed=11, native_scripts=False)]
    large = [data for _, data in generate_dossier(crew=25, passengers=10_000, seed=12, native_scripts=False)]
    small_ms, _, small_cpu = _run("25 crew", small, floor, max(args.repeat, 50))
    large_ms, large_floor, _ = _run("25 crew + 10,000 passengers", large, floor, args.repeat)
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS (both pipelines, generator included) {max_rss:.0f} MB")
    verdict_small = f"{'ok' if small_ms < 5 else 'OVER'} (wall), {'ok' if small_cpu < 5 else 'OVER'} (CPU)"
    verdict_large = "ok" if large_ms <= 1.5 * large_floor else "OVER"
    print(f"targets: 25 crew < 5 ms: {verdict_small}; 10,000 passengers <= 1.5x floor: {verdict_large}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

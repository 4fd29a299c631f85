"""Where the NSW simulator's dossiers come from: a folder of envelope files, or generated ones."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from nsw_adapter.envelope import VIETNAM
from nsw_adapter.resources import sample_path
from nsw_adapter.simulators.nsw_messages import Document, new_nsw_message_id, rebrand


def read_documents(files: Sequence[tuple[str, bytes]]) -> list[Document]:
    """(file name, envelope bytes) pairs as Documents (ValueError for a file that is not a usable message)."""
    return [Document.read(name, data) for name, data in files]


def load_folder(folder: Path) -> list[list[Document]]:
    """A folder of envelope files is one dossier; a folder of such folders is several (in name order).

    Messages are grouped by their dossier number, so one flat folder may also hold several dossiers.
    """
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    files = sorted(folder.glob("*.xml"))
    groups: dict[str, list[Document]] = {}
    sources = (
        [files] if files else [sorted(sub.glob("*.xml")) for sub in sorted(folder.iterdir()) if sub.is_dir()]
    )
    for group in sources:
        for path in group:
            document = Document.read(path.name, path.read_bytes())
            groups.setdefault(document.reference, []).append(document)
    if not groups:
        raise ValueError(f"{folder} holds no envelope files (*.xml)")
    return list(groups.values())


def _generator() -> Callable[..., list[tuple[str, bytes]]] | None:
    try:
        module = importlib.import_module("nsw_adapter.fixtures")
    except ImportError:
        return None
    generate: Callable[..., list[tuple[str, bytes]]] | None = getattr(module, "generate_dossier", None)
    return generate


def generate(count: int, *, seed: int = 0, prefix: str = "SIM") -> list[list[Document]]:
    """`count` valid dossiers with fresh dossier numbers (nsw_adapter.fixtures when present).

    Without the fixtures generator, the contract's valid sample dossiers are cloned in turn
    under new dossier numbers, messageIds and current sendDates.
    """
    stamp = datetime.now(VIETNAM).strftime("%y%m%d%H%M%S")
    generator = _generator()
    dossiers: list[list[Document]] = []
    for index in range(count):
        reference = f"{prefix}-{stamp}-{index + 1:05d}"
        if generator is not None:
            kwargs: dict[str, Any] = {
                "crew": 8 + (seed + index) % 18,
                "passengers": 0 if index % 3 else 12 + index % 30,
                "arms": index % 2,
                "stowaways": 1 if index % 7 == 6 else 0,
                "seed": seed + index,
                "reference": reference,
            }
            dossiers.append(read_documents(generator(**kwargs)))
        else:
            dossiers.append(_clone_sample(index, reference))
    return dossiers


def _clone_sample(index: int, reference: str) -> list[Document]:
    samples = _sample_dossiers()
    template = samples[index % len(samples)]
    start = datetime.now(VIETNAM).replace(microsecond=0)
    return [
        rebrand(
            document,
            reference=reference,
            message_id=new_nsw_message_id(start),
            send_date=start + timedelta(seconds=position),
        )
        for position, document in enumerate(sorted(template, key=lambda d: d.send_date))
    ]


_SAMPLES: list[list[Document]] = []


def _sample_dossiers() -> list[list[Document]]:
    """The valid sample dossiers with only new documents (function 01), loaded once."""
    if not _SAMPLES:
        root = sample_path("nsw", "valid")
        for dossier in load_folder(root):
            fresh = [d for d in dossier if d.function == "01"]
            if fresh:
                _SAMPLES.append(fresh)
    return _SAMPLES

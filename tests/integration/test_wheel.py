"""The wheel as port IT installs it: typed for mypy, and carrying every sample dossier the demo and
the NSW simulator read (not only a checkout has them)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [built] = out.glob("nsw_adapter-*.whl")
    return built


def test_the_wheel_is_typed_and_holds_the_samples(wheel: Path) -> None:
    """py.typed (PEP 561) is in the wheel, with the contract's valid and invalid sample dossiers."""
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "nsw_adapter/py.typed" in names
    assert any(n.startswith("nsw_adapter/_data/fixtures/samples/nsw/invalid/E-IMO/") for n in names)
    assert any(n.startswith("nsw_adapter/_data/fixtures/samples/nsw/valid/") for n in names)


def test_the_installed_demo_finds_every_dossier_it_needs(wheel: Path, tmp_path: Path) -> None:
    """Unpacked away from the checkout, the package finds its own samples: the demo's invalid dossiers
    (one per code) and the NSW simulator's valid ones."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        "import nsw_adapter, nsw_adapter.demo as d, nsw_adapter.simulators.dossiers as s;"
        "print(nsw_adapter.__file__);"
        "print(sorted({p.kind for p, _ in d._invalid()}));"
        "print(len(s._sample_dossiers()) > 0)"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {probe}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=True,
    )
    where, kinds, valid = done.stdout.splitlines()
    assert where.startswith(str(site))
    assert kinds == str(
        sorted(f"invalid ({code})" for code in ("E-COUNT", "E-DOC-EXPIRED", "E-IMO", "E-MASTER"))
    )
    assert valid == "True"

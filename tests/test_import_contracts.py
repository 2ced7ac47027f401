"""The import contracts catch what they promise to: each case below breaks one rule in a
copy of the source tree and expects lint-imports to name the contract that broke."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("reach", "schema", "resolvers", "documents", "workers", "engine", "channels")
STACK = "resolvers: domain packages on one stack"
ACYCLIC = "resolvers: no import cycle between siblings"

CASES = {
    "a package imports one above it": (
        "resolvers/segments/define.py",
        "from resolvers.campaigns import runs  # noqa\n",
        {STACK},
    ),
    "independent siblings import each other": (
        "resolvers/journeys/step.py",
        "from resolvers.campaigns import runs  # noqa\n",
        {STACK},
    ),
    "a package nobody placed on the stack": (
        "resolvers/unplaced/__init__.py",
        "",
        {STACK},
    ),
    "a function-level import closes a cycle inside a package": (
        "resolvers/campaigns/runs.py",
        "\n\ndef _late():\n    from resolvers.campaigns import fanout  # noqa\n",
        {ACYCLIC},
    ),
    "reactions imports a reacting domain": (
        "resolvers/reactions/dispatch.py",
        "\n\ndef _late():\n    from resolvers.journeys import listeners  # noqa\n",
        {STACK, ACYCLIC},
    ),
    "engine imports a driver": ("engine/ab.py", "import pymongo  # noqa\n", {"engine imports no"}),
    "schema imports documents": (
        "schema/errors.py",
        "import documents.event  # noqa\n",
        {"schema reaches data only through resolvers"},
    ),
}


def _lint(tree: Path) -> str:
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run(
        [str(lint), "--no-cache"], cwd=tree, capture_output=True, text=True, timeout=120
    )
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("contracts")
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    for name in PACKAGES:
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_the_tree_as_committed_keeps_every_contract(tree):
    out = _lint(tree)
    assert "0 broken" in out, out


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_contract_fails_when_broken(tree, case, tmp_path):
    path, addition, broken = CASES[case]
    target = tmp_path / "tree"
    shutil.copytree(tree, target)
    file = target / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text((file.read_text() if file.exists() else "") + addition)
    out = _lint(target)
    reported = {line.split(" BROKEN")[0] for line in out.splitlines() if line.endswith("BROKEN")}
    for name in broken:
        assert any(r.startswith(name) for r in reported), (name, out)

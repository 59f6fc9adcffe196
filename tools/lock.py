"""requirements.lock: the exact versions every install uses (make, CI, the Dockerfile).

pyproject.toml says what callsift needs (lower bounds); the lock pins what was resolved from it,
installed as pip constraints (`pip install -c requirements.lock ...`). Its first line records a
digest of pyproject.toml's dependency lists, so an edit there is noticed:

    python tools/lock.py check   # exit 1 when the lock was made from other dependency lists
    python tools/lock.py write   # resolve afresh in a throwaway venv and rewrite the lock
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "requirements.lock"
DIGEST_PREFIX = "# pyproject dependencies sha256: "
EXTRAS = "dev"


def dependency_digest(pyproject: Path = PYPROJECT) -> str:
    """A digest of the dependency lists only, so formatting or tool settings don't matter."""
    project = tomllib.loads(pyproject.read_text())["project"]
    lists = {
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
        "requires-python": project.get("requires-python", ""),
    }
    return hashlib.sha256(json.dumps(lists, sort_keys=True).encode()).hexdigest()


def recorded_digest(lock: Path = LOCK) -> str | None:
    if not lock.exists():
        return None
    first_line = lock.read_text().partition("\n")[0]
    return first_line.removeprefix(DIGEST_PREFIX) if first_line.startswith(DIGEST_PREFIX) else None


def pinned_versions(lock: Path = LOCK) -> dict[str, str]:
    """`{normalised name: version}` of every pin in the lock."""
    pins: dict[str, str] = {}
    for line in lock.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[normalise(name)] = version.strip()
    return pins


def normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


def write() -> None:
    with tempfile.TemporaryDirectory(prefix="callsift-lock-") as scratch:
        python = Path(scratch) / "bin" / "python"
        subprocess.run([sys.executable, "-m", "venv", scratch], check=True)
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", f"{ROOT}[{EXTRAS}]"],
            check=True,
        )
        frozen = subprocess.run(
            [python, "-m", "pip", "freeze", "--exclude", "callsift"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    pins = sorted(line for line in frozen.splitlines() if "==" in line)
    header = [
        DIGEST_PREFIX + dependency_digest(),
        "# Written by `make lock` (tools/lock.py): every package of callsift[dev] as resolved for",
        f"# Python {sys.version_info.major}.{sys.version_info.minor}; installs use it as pip "
        "constraints. Do not edit by hand.",
    ]
    LOCK.write_text("\n".join([*header, *pins]) + "\n")
    print(f"lock: wrote {LOCK.name} ({len(pins)} packages)")


def check() -> int:
    if recorded_digest() == dependency_digest():
        return 0
    print(
        f"lock: {LOCK.name} was not made from pyproject.toml's current dependencies; "
        "run `make lock`",
        file=sys.stderr,
    )
    return 1


def main(argv: list[str]) -> int:
    if argv == ["check"]:
        return check()
    if argv == ["write"]:
        write()
        return 0
    print("usage: python tools/lock.py check|write", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""What a result was made with: the git commit, the machine and the package versions.

The one place that asks git and ``/proc`` (run folders record it in ``config.json``, the
benchmark in its JSON, the book in its status page). Only :func:`run_environment` and
:func:`ml_versions` import TensorFlow, when called.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .project import REPO_ROOT

#: the packages the book's status page lists (those installed)
BOOK_PACKAGES = ("tensorflow-cpu", "tensorflow", "keras", "numpy", "pandas", "matplotlib", "seaborn",
                 "jupyter-book", "myst-nb", "papermill")
ISA_ORDER = ("avx512_bf16", "avx512_vnni", "avx512f", "avx2", "avx", "sse4_2")  # widest first


def git_commit(short: int | None = None, root: Path = REPO_ROOT) -> str:
    """The checked-out commit of the repository (``short``: that many hex digits), or ``unknown``."""
    cmd = ["git", "rev-parse"] + ([f"--short={short}"] if short else []) + ["HEAD"]
    try:
        return subprocess.run(cmd, cwd=root, capture_output=True, text=True, encoding="utf-8", errors="replace", check=True,
                              timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def git_dirty(path: str = "lungseg_lib", root: Path = REPO_ROOT) -> bool:
    """True when ``path`` of the repository has uncommitted changes (False when git is absent)."""
    try:
        return bool(subprocess.run(["git", "status", "--porcelain", "--", path], cwd=root,
                                   capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=20).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return False


def _cpuinfo() -> tuple[str, set[str]]:
    """The first ``model name`` and ``flags`` of ``/proc/cpuinfo`` (the platform's name if none)."""
    name, flags = "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            elif line.lower().startswith("model name") and not name:
                name = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return name or platform.processor() or platform.machine(), flags


def cpu_model() -> str:
    """The CPU's model name."""
    return _cpuinfo()[0]


def cpu_info() -> dict:
    """The CPU's model, its widest vector instruction set and oneDNN's settings: TensorFlow's
    oneDNN kernels pick their code path by instruction set, so results can differ between CPUs."""
    name, flags = _cpuinfo()
    isa = next((i for i in ISA_ORDER if i in flags), "unknown")
    return {"cpu_model": name, "cpu_isa": isa,
            "onednn": {k: os.environ.get(k, "unset") for k in ("TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA")}}


def cpu_label(info: dict) -> str:
    """A recorded :func:`cpu_info` in words, "model (widest instruction set)"; "" when it names
    no CPU."""
    return f"{info['cpu_model']} ({info.get('cpu_isa', '?')})" if info.get("cpu_model") else ""


def cgroup_cpu_quota() -> float | None:
    """The CPUs this process's cgroup may use (None: no limit)."""
    try:
        limit, period = Path("/sys/fs/cgroup/cpu.max").read_text(encoding="utf-8").split()[:2]
        return None if limit == "max" else int(limit) / int(period)
    except (OSError, ValueError):
        return None


def usable_cpus() -> int:
    """The cores this process may run on: its affinity, capped by the cgroup's quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:
        n = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    return max(1, min(n, math.ceil(quota))) if quota else n


def memory_gb() -> float | None:
    """The machine's memory (GiB, one decimal), or None where ``/proc/meminfo`` is absent."""
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def package_versions(packages=BOOK_PACKAGES) -> dict[str, str]:
    """The installed version of each of ``packages`` (those not installed left out)."""
    out = {}
    for pkg in packages:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out


def book_environment() -> dict[str, str]:
    """Python, machine, versions of the packages the book uses and the short git commit, for the
    book's status page (without importing TensorFlow)."""
    return {"python": platform.python_version(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            **package_versions(), "git commit": git_commit(short=10)}


def ml_versions() -> dict[str, str]:
    """The versions a model's numbers depend on: TensorFlow, Keras, NumPy, Python."""
    import keras
    import numpy as np
    import tensorflow as tf

    return {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def run_environment() -> dict:
    """What a run folder's ``config.json`` records of its making: git commit (and whether the
    library had uncommitted changes), versions, the device TensorFlow trains on, and the CPU's
    model, instruction set and oneDNN settings."""
    import tensorflow as tf

    commit = git_commit()
    dirty = git_dirty("lungseg_lib") if commit != "unknown" else False
    gpus = tf.config.list_physical_devices("GPU")
    names = [tf.config.experimental.get_device_details(g).get("device_name", "GPU") for g in gpus]
    device = ", ".join(names) if gpus else f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    return {"git_commit": commit, "git_dirty_library": dirty, **ml_versions(), "device": device,
            "gpus": len(gpus), **cpu_info()}

"""Execute the project's notebooks with papermill, rejecting unknown parameter names."""

from __future__ import annotations

import os
from pathlib import Path

from .project import REPO_ROOT
from .files import replacing

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"


def notebook_path(name: str) -> Path:
    """The ``.ipynb`` of a notebook given as ``NN_name``, ``name`` or a path."""
    path = Path(name)
    if path.suffix == ".ipynb" and path.exists():
        return path
    matches = sorted(NOTEBOOKS_DIR.glob(f"{name}.ipynb")) or sorted(NOTEBOOKS_DIR.glob(f"[0-9][0-9]_{name}.ipynb"))
    if not matches:
        valid = sorted(p.stem.split("_", 1)[-1] for p in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
        raise ValueError(f"unknown notebook {name!r}; valid: {', '.join(valid)}")
    return matches[0]


def notebook_parameters(path: str | os.PathLike) -> dict:
    """The notebook's parameter names and default values (as source text)."""
    import papermill

    return {k: v["default"] for k, v in papermill.inspect_notebook(str(path)).items()}


def check_parameters(path: str | os.PathLike, names) -> None:
    """ValueError naming the valid parameters if any of ``names`` is not one of the notebook's
    (papermill alone only warns)."""
    known = notebook_parameters(path)
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)} for notebook {Path(path).stem}; "
                         f"valid: {', '.join(sorted(known))}")


def _kernel_manager_class():
    """A kernel manager that encrypts the kernel's TCP sockets (CurveZMQ) when pyzmq can, so
    ipykernel >= 7.3 does not warn "Kernel is running over TCP without encryption" each run."""
    import zmq
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class EncryptedKernelManager(AsyncKernelManager):
        @default("transport_encryption")
        def _transport_encryption_default(self):
            return "auto" if zmq.has("curve") else "disabled"

    return EncryptedKernelManager


def run_notebook(name: str, output: str | os.PathLike, parameters: dict | None = None,
                 log_output: bool = False, cwd: str | os.PathLike | None = None) -> Path:
    """Execute notebook ``name`` into ``output`` with ``parameters``.

    Unknown parameter names raise ValueError (papermill alone only warns). The notebook
    runs in ``cwd`` (default: the repository root, so relative paths mean the same as on
    the command line); the output is written under a temporary name and renamed when done.
    """
    import logging

    import papermill

    if log_output:  # papermill logs the notebook's output lines (one per epoch) at INFO
        logger = logging.getLogger("papermill")
        if not logger.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(message)s"))
            logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    path = notebook_path(name)
    parameters = parameters or {}
    check_parameters(path, parameters)
    output = Path(output)
    with replacing(output, tmp=f".{output.stem}.running.ipynb", keep_on_error=True) as tmp:
        papermill.execute_notebook(str(path), str(tmp), parameters=parameters, kernel_name="python3",
                                   cwd=str(cwd or REPO_ROOT), log_output=log_output,
                                   progress_bar=log_output, kernel_manager_class=_kernel_manager_class())
        _portable_paths(tmp, path, output)
    return output


def _portable_paths(notebook: Path, source: Path, output: Path) -> None:
    """Papermill records the absolute input and output paths in the notebook's metadata:
    replace them with paths relative to the repository (or the bare names outside it)."""
    import json

    def portable(p: Path) -> str:
        p = Path(p).resolve()
        return str(p.relative_to(REPO_ROOT)) if p.is_relative_to(REPO_ROOT) else p.name

    nb = json.loads(notebook.read_text(encoding="utf-8"))
    meta = nb.get("metadata", {}).get("papermill", {})
    meta.update({"input_path": portable(source), "output_path": portable(output)})
    notebook.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

"""Checkpoints from others are data, not code: load them with torch's weights-only unpickler.

`torch.load(weights_only=False)` runs whatever a crafted file asks (any importable function
with any arguments). glassml checkpoints hold tensors, plain Python containers and numbers,
strings, and at most a few numpy arrays and scalars (RNG states, metadata), so the
weights-only loader with those numpy types allow-listed (`add_safe_globals`) reads every
one of them. A file that needs anything else is refused with an error naming what it asks
for, unless the caller says it trusts the file (`trust_checkpoint=true`).
"""

from __future__ import annotations

import logging
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

TRUST_HINT = (
    "pass trust_checkpoint=true only if you trust where the file comes from: loading it "
    "then runs what it asks for"
)


class CheckpointError(ValueError):
    """A checkpoint file is missing, not a PyTorch checkpoint, or not one of ours."""


class UntrustedCheckpointError(CheckpointError):
    """The checkpoint asks for Python objects outside the allow-list (possibly code)."""


def _numpy_globals() -> list[Any]:
    """numpy arrays, scalars and dtypes, the only non-torch types our checkpoints hold."""
    core = getattr(np, "_core", None) or np.core  # numpy 2 / numpy 1
    dtype_classes = [getattr(np.dtypes, name) for name in dir(np.dtypes) if name.endswith("DType")]
    base = [core.multiarray._reconstruct, core.multiarray.scalar, np.ndarray, np.dtype]
    return base + dtype_classes


SAFE_GLOBALS: list[Any] = _numpy_globals()


def register_safe_globals() -> None:
    """Allow-list our checkpoint types for every weights-only load in this process
    (Lightning's own resume and test loads included)."""
    import torch

    known = set(map(id, torch.serialization.get_safe_globals()))
    missing = [g for g in SAFE_GLOBALS if id(g) not in known]
    if missing:
        torch.serialization.add_safe_globals(missing)


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', obj)}"


def load_checkpoint_file(path: str | Path, trust: bool = False) -> dict[str, Any]:
    """The dict stored in a checkpoint file, loaded without running code unless `trust`.

    Raises `CheckpointError` (naming the file) for a missing file or one that is not a
    PyTorch checkpoint, and `UntrustedCheckpointError` (naming the types) for one that needs
    more than the allow-list.
    """
    import torch  # here, not at the top: the CLIs import the error classes before parsing

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if trust:
        log.warning("trust_checkpoint=true: loading %s with full unpickling", path)
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    else:
        register_safe_globals()
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise _refusal(path, exc) from None
        except (RuntimeError, EOFError, KeyError, OSError, zipfile.BadZipFile) as exc:
            raise _not_a_checkpoint(path, exc) from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(
            f"{path} holds a {type(ckpt).__name__}, not a checkpoint dict (glassml-train "
            "writes checkpoints/best.ckpt and last.ckpt)"
        )
    return ckpt


def _not_a_checkpoint(path: Path, exc: BaseException) -> CheckpointError:
    detail = str(exc).splitlines()[0] if str(exc) else ""
    why = type(exc).__name__ + (f": {detail}" if detail and len(detail) < 100 else "")
    return CheckpointError(
        f"{path} is not a PyTorch checkpoint ({why}); give the checkpoints/best.ckpt "
        "of a glassml-train run"
    )


def _refusal(path: Path, exc: BaseException) -> CheckpointError:
    """Why the weights-only loader refused: foreign types, or not a checkpoint at all."""
    import torch

    try:
        wanted = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # a bare pickle, or garbage
        return _not_a_checkpoint(path, exc)
    allowed = {_qualname(g) for g in SAFE_GLOBALS}
    foreign = [g for g in wanted if g not in allowed]
    if not foreign:
        return _not_a_checkpoint(path, exc)
    return UntrustedCheckpointError(
        f"{path} asks for {', '.join(foreign)}, which a glassml checkpoint never holds; "
        f"refused, because unpickling it could run code. {TRUST_HINT}"
    )

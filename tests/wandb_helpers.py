"""Read an offline W&B run's record file in tests."""

from __future__ import annotations

import time
from pathlib import Path


def wait_for_record(run_dir: Path, *needles: bytes, tries: int = 60) -> bytes:
    """Bytes of the run's `.wandb` record once it holds every needle (or after `tries`).

    Offline runs keep config, metrics and summary in that file, which the wandb service
    process finishes writing shortly after `wandb.finish()` returns.
    """
    record_file = next(Path(run_dir).glob("run-*.wandb"))
    for _ in range(tries):
        record = record_file.read_bytes()
        if all(n in record for n in needles):
            break
        time.sleep(0.5)
    return record

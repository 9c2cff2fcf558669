"""One training run: a run spec + prepared data + a partition file -> rounds.csv and run.json.

run.json is written last and is the run's completion marker; rounds.csv is rewritten
atomically after every round, so a crash leaves the rounds done so far and no run.json.
Every `checkpoint_every` rounds the federation's state goes to a checkpoint beside the run
directory (`<run dir>.ckpt/state.pt`: not a Snakemake output, so it survives Snakemake
deleting a failed job's outputs); a new job for the same run resumes from it, and it is
deleted once run.json is written. Temp files that a kill left in either folder are
removed when the run starts again and when it ends.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from resfed import checkpoint, log
from resfed.atomic import atomic_write_json, remove_partial_writes
from resfed.codec.auth import LinkKeys, run_key
from resfed.config import spec_hash
from resfed.data import PartitionFile, PreparedData, load_prepared, read_partition_file
from resfed.federation import Federation
from resfed.local_training import TrainSettings
from resfed.methods import builder
from resfed.models import build_model, count_parameters
from resfed.progress import Progress
from resfed.records import RoundRecord
from resfed.run_errors import RunExists, RunInterrupted, interrupts_deferred
from resfed.run_inputs import check_partition, check_spec
from resfed.snapshots import ValueSnapshots


logger = logging.getLogger(__name__)


def claim_run_dir(out_dir: Path, force: bool) -> None:
    """Refuse to replace a finished run unless `force`; with it, remove the old run's results first."""
    if not (out_dir / "run.json").exists():
        return
    if not force:
        raise RunExists(f"{out_dir} holds a finished run (run.json); pass --force to replace it, "
                        "or choose another --out")
    logger.warning("%s: replacing the finished run there (--force)", out_dir)
    for name in ("run.json", "rounds.csv"):
        (out_dir / name).unlink(missing_ok=True)
    shutil.rmtree(out_dir / "values", ignore_errors=True)


def resolve_device(requested: str) -> torch.device:
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch sees no CUDA device; use 'auto' or 'cpu'")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def standardise(
    train: np.ndarray, test: np.ndarray, enabled: bool, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """uint8 NCHW -> float32 in [0, 1], then per-channel (x - mean) / std of the training set."""
    x_train = torch.from_numpy(train).to(device=device, dtype=torch.float32).div_(255.0)
    x_test = torch.from_numpy(test).to(device=device, dtype=torch.float32).div_(255.0)
    record: dict[str, Any] = {"scale": "uint8 / 255", "standardize": enabled}
    if enabled:
        mean = x_train.double().mean(dim=(0, 2, 3))
        std = x_train.double().std(dim=(0, 2, 3))
        shape = (1, -1, 1, 1)
        x_train = (x_train - mean.float().view(shape)) / std.float().view(shape)
        x_test = (x_test - mean.float().view(shape)) / std.float().view(shape)
        record.update(mean=mean.tolist(), std=std.tolist(), statistics_from="full training set")
    return x_train, x_test, record


@dataclass
class LoadedRun:
    """What a run's endpoints are built from: the model (holding the initial global model),
    each client's data, the test data. Every engine (the in-process loop, each Flower node)
    builds it the same way from the same spec and files."""

    device: torch.device
    data: PreparedData
    partition: PartitionFile
    model: nn.Module
    client_data: list[tuple[torch.Tensor, torch.Tensor]]
    test_data: tuple[torch.Tensor, torch.Tensor]
    preprocessing: dict[str, Any]
    settings: TrainSettings


def load_run(spec: Mapping[str, Any], data_path: str | Path, partition_path: str | Path) -> LoadedRun:
    """Load and standardise the data, split it by the partition file and build the model from the seed."""
    device = resolve_device(spec["device"])
    data = load_prepared(data_path)
    partition = read_partition_file(partition_path, dataset_checksum=data.checksum, n_samples=len(data.y_train))
    check_partition(spec, partition, partition_path)
    test_count = spec["dataset_spec"].get("test_subsample") or len(data.y_test)
    x_train, x_test, preprocessing = standardise(
        data.x_train, data.x_test[:test_count], spec["standardize"], device
    )
    y_train = torch.from_numpy(data.y_train).to(device)
    y_test = torch.from_numpy(data.y_test[:test_count]).to(device)
    client_data = []
    for indices in partition.clients:
        index = torch.from_numpy(np.asarray(indices)).to(device)
        client_data.append((x_train[index], y_train[index]))

    torch.manual_seed(int(spec["seed"]))
    model = build_model(
        spec["dataset_spec"]["model"], data.channels, data.num_classes, image_size=data.x_train.shape[-1]
    ).to(device)
    settings = TrainSettings.from_dict(spec["train"])
    return LoadedRun(device, data, partition, model, client_data, (x_test, y_test), preprocessing, settings)


def run_training(
    spec: Mapping[str, Any], data_path: str | Path, partition_path: str | Path, out_dir: str | Path,
    progress: bool = True, checkpoint_dir: str | Path | None = None, force: bool = False,
    tensorboard: str | Path | None = None,
) -> Path:
    """Train one run and write its logs; returns the run directory.

    Resumes from the checkpoint in `checkpoint_dir` (default: `<out_dir>.ckpt`) when there is one.
    A finished run in `out_dir` is replaced only with `force` (else RunExists). Ctrl-C raises
    RunInterrupted. `tensorboard`: a folder to log every round to as well.
    """
    out_dir = Path(out_dir)
    check_spec(spec)
    claim_run_dir(out_dir, force)
    checkpoint_path = Path(checkpoint_dir or out_dir.with_name(out_dir.name + ".ckpt")) / "state.pt"
    for folder in (out_dir, out_dir / "values", checkpoint_path.parent):
        remove_partial_writes(folder)
    started = log.now()
    torch.set_num_threads(int(spec["threads"]))
    seed = int(spec["seed"])

    loaded = load_run(spec, data_path, partition_path)
    data, partition, model, client_data = loaded.data, loaded.partition, loaded.model, loaded.client_data
    federation = Federation(
        model=model,
        build=builder(spec["variant_spec"]),
        client_data=client_data,
        test_data=loaded.test_data,
        settings=loaded.settings,
        seed=seed,
        fraction=spec["fraction"],
        send_initial_model=spec["send_initial_model"],
        batched=spec["batched"],
        link_keys=LinkKeys(run_key()) if spec.get("authenticate") else None,
    )

    records: list[RoundRecord] = []
    n_clients = len(client_data)
    rounds_path = out_dir / "rounds.csv"
    identity = checkpoint.run_identity(spec, data.checksum, partition.hash)
    if checkpoint_path.exists():
        records = checkpoint.load(checkpoint_path, federation, identity)
        logger.warning("%s: resuming after round %d from %s", out_dir, len(records), checkpoint_path)
    log.write_rounds_csv(rounds_path, records, n_clients)  # a run that stops in round 1 still leaves its header
    resumed_from = len(records)
    target = spec["dataset_spec"]["target_accuracy"]
    target_on = spec.get("target_on", "server")
    reporter = Progress(f"{spec['dataset']}/{spec['partition']}/{spec['variant']}/seed{seed}", spec["rounds"],
                        n_clients, target, done=records, enabled=progress, tensorboard=tensorboard,
                        target_on=target_on)

    snapshots = ValueSnapshots(
        spec["variant_spec"].get("value_snapshots") or [], out_dir / "values",
        start=federation.clients[0].model(),
    )

    def on_round(record: RoundRecord) -> None:
        with interrupts_deferred():
            records.append(record)
            snapshots.observe(federation, record.round)
            log.write_rounds_csv(rounds_path, records, n_clients)
            if spec["checkpoint_every"] and len(records) % spec["checkpoint_every"] == 0:
                checkpoint.save(checkpoint_path, federation, records, identity)
        reporter.round(record)

    resume = {"done": list(records)} if records else {}
    try:
        federation.run(
            spec["rounds"], target, spec["rounds_after_target"], on_round=on_round, target_on=target_on, **resume
        )
    except KeyboardInterrupt:
        reporter.close()
        raise RunInterrupted(out_dir, len(records)) from None
    reporter.close(federation.stopped, len(records))

    atomic_write_json(
        out_dir / "run.json",
        {
            "run": {k: spec[k] for k in ("dataset", "partition", "method", "variant", "seed")},
            "target_accuracy": target,
            "target_on": target_on,
            "config": dict(spec),
            "config_hash": spec_hash(spec),
            **log.provenance(str(loaded.device)),
            "data_checksum": data.checksum,
            "partition_hash": partition.hash,
            "preprocessing": loaded.preprocessing,
            "model": spec["dataset_spec"]["model"],
            "param_count": count_parameters(model),
            "link_memory_bits": federation.strategy.memory_bits,
            "n_clients": n_clients,
            "rounds_completed": len(records),
            "stopped_early": federation.stopped,
            "resumed_after_round": resumed_from or None,
            "started": started,
            "finished": log.now(),
        },
    )
    remove_checkpoint(checkpoint_path)
    return out_dir


def remove_checkpoint(path: Path) -> None:
    """Delete a finished run's checkpoint, temp files of killed saves, and its folder if then empty."""
    path.unlink(missing_ok=True)
    remove_partial_writes(path.parent)
    with contextlib.suppress(OSError):  # the folder stays if it holds anything else
        path.parent.rmdir()


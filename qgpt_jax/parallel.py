"""Devices and hosts: the mesh a run is spread over, and joining several processes into one run.

A mesh has two axes: ``seed`` (the seeds of a model, spread over devices) and ``data`` (each
seed's batch, split over devices; parameters and optimizer state are replicated and XLA reduces the
gradients). ``--mesh data=4`` or ``--mesh seed=2,data=2``; without ``--mesh`` a run uses one
device and no sharding at all.

Several hosts join with ``jax.distributed.initialize`` before any other JAX call: every process
runs the same command with its own ``--process-id`` (or JAX's own ``JAX_COORDINATOR_ADDRESS``,
``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` environment variables), and the mesh spans the devices
of all of them. Only process 0 writes reports and sample checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from qgpt_jax.errors import ConfigError
from qgpt_jax.train import DATA_AXIS, SEED_AXIS

MESH_AXES = (SEED_AXIS, DATA_AXIS)


@dataclass(frozen=True)
class MeshSpec:
    """How many devices the seed and data axes use."""

    seed: int = 1
    data: int = 1

    @classmethod
    def parse(cls, text: str) -> MeshSpec:
        """``"data=4"`` or ``"seed=2,data=2"``."""
        sizes = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, value = part.partition("=")
            name = name.strip()
            if name not in MESH_AXES or not value.strip().isdigit() or int(value) < 1:
                raise ConfigError(
                    f"--mesh takes axis=size pairs with axes {' and '.join(MESH_AXES)} and "
                    f"positive sizes (e.g. data=4 or seed=2,data=2), got {text!r}"
                )
            sizes[name] = int(value)
        if not sizes:
            raise ConfigError(f"--mesh needs at least one axis=size pair, got {text!r}")
        return cls(**sizes)

    @property
    def size(self) -> int:
        return self.seed * self.data

    def __str__(self) -> str:
        return f"seed={self.seed},data={self.data}"


def make_mesh(spec: MeshSpec):
    """A ``jax.sharding.Mesh`` over the first ``spec.size`` devices (of every process)."""
    import jax
    from jax.sharding import Mesh

    devices = jax.devices()
    if jax.process_count() > 1 and spec.size != len(devices):
        raise ConfigError(
            f"--mesh {spec} uses {spec.size} devices, but the {jax.process_count()} processes of "
            f"this run hold {len(devices)}; a multi-process mesh spans every device of every "
            f"process (e.g. --mesh data={len(devices)})"
        )
    if spec.size > len(devices):
        raise ConfigError(
            f"--mesh {spec} needs {spec.size} devices but JAX sees {len(devices)} "
            f"({devices[0].platform}); on a CPU, XLA_FLAGS=--xla_force_host_platform_device_count"
            f"={spec.size} makes that many"
        )
    return Mesh(np.array(devices[: spec.size]).reshape(spec.seed, spec.data), MESH_AXES)


def check_fits(spec: MeshSpec, batch_size: int, device: str | None) -> None:
    """One clear line when the batch or the quantum device cannot use the mesh."""
    if batch_size % spec.data:
        raise ConfigError(
            f"batch_size {batch_size} does not divide over the mesh's data axis of {spec.data} "
            f"devices; choose a batch size that is a multiple of {spec.data} or another --mesh"
        )
    if device is not None and spec.size > 1:
        from qgpt_jax.quantum.devices import DEVICES

        if not DEVICES[device].in_graph:
            raise ConfigError(
                f"device {device!r} runs its circuits in a host callback, which cannot be sharded "
                f"over a mesh of {spec.size} devices; use --device default.qubit with --mesh, or "
                f"drop --mesh"
            )


def initialize_distributed(
    coordinator: str | None, num_processes: int | None, process_id: int | None
) -> None:
    """Join this process to a multi-process run; a no-op for a single process.

    Call before anything else touches JAX. CPU devices exchange data through gloo collectives.
    """
    wanted = coordinator or num_processes or os.environ.get("JAX_COORDINATOR_ADDRESS")
    if not wanted:
        return
    import jax

    if coordinator and (num_processes is None or process_id is None):
        raise ConfigError(
            "--coordinator needs --num-processes and --process-id too (or set "
            "JAX_NUM_PROCESSES and JAX_PROCESS_ID)"
        )
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(
            coordinator_address=coordinator, num_processes=num_processes, process_id=process_id
        )
    except Exception as exc:  # any failure to join comes from the setup the user gave
        message = " ".join(str(exc).split())[:300]
        raise ConfigError(
            f"could not join the multi-process run at {coordinator or 'the coordinator'} "
            f"({message}); check --coordinator, --num-processes and --process-id"
        ) from None


def is_main_process() -> bool:
    import jax

    return jax.process_index() == 0


def padded_seed_count(n_seeds: int, mesh) -> int:
    """Seeds a program runs: ``n_seeds`` rounded up to fill the mesh's seed axis evenly (the
    padding repeats the last seed and its results are dropped)."""
    if mesh is None:
        return n_seeds
    per_device = -(-n_seeds // mesh.shape["seed"])
    return per_device * mesh.shape["seed"]


def to_global(value, sharding):
    """``value`` (the same on every process) as one array laid out by ``sharding``."""
    import jax

    value = np.asarray(value)
    if sharding is None:
        return jax.numpy.asarray(value)
    return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])


def to_host(tree):
    """NumPy copies of a pytree's arrays, gathered from every process where they are sharded."""
    import jax
    from jax.experimental import multihost_utils

    def fetch(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree_util.tree_map(fetch, tree)

"""IBM Runtime's primitives as the job runner of the batched path: the same jobs on IBM hardware.

``--device ibm.runtime --backend NAME --shots N`` runs the quantum heads through Qiskit Runtime's
``SamplerV2``. It is the batched Aer path (``qgpt_jax.quantum.aer``) with another job runner: each
circuit structure is transpiled once for the backend's target (an ISA circuit, cached per
structure and backend), and every call of a layer's heads, forward or parameter-shifted, submits
ONE job of ONE PUB: the circuit with the (bindings x parameters) array of the whole call, at the
asked shots. All jobs of a run go into one Runtime ``Batch``.

Names starting with ``fake_`` are the fake backends of ``qiskit_ibm_runtime.fake_provider``, run
by Runtime's local testing mode (Aer with that device's noise model, coupling map and basis; no
account, no network). Any other name is a backend of the account saved with
``QiskitRuntimeService.save_account``.

Nothing of the account (token, instance, URL) reaches an error message, a report or a log: the
account's errors are reported by their type only, and ``redact`` strips the saved account's
secrets and anything token-like from what a job error says.
"""

from __future__ import annotations

import functools
import re
import warnings

import numpy as np

from qgpt_jax.errors import ConfigError, QuantumExecutionError
from qgpt_jax.quantum.aer import BatchedAerCircuit, Gate, transpile_for
from qgpt_jax.quantum.circuits import ATTENTION, Circuit

LOCAL_PREFIX = "fake_"
"""Backends of this prefix run in Runtime's local testing mode."""

ACCOUNT_HELP = (
    "save one with QiskitRuntimeService.save_account(token=..., set_as_default=True), or use a "
    "fake backend such as fake_manila (local testing mode)"
)

_TOKEN_LIKE = re.compile(r"[A-Za-z0-9_\-]{40,}")
"""IBM Quantum API keys and tokens are long runs of these characters; job ids are shorter."""


def is_local(name: str) -> bool:
    return name.startswith(LOCAL_PREFIX)


@functools.cache
def _fake_backends() -> dict:
    from qiskit_ibm_runtime.fake_provider import FakeProviderForBackendV2

    with warnings.catch_warnings():  # some fake devices warn that their figures are made up
        warnings.simplefilter("ignore")
        return {backend.name: backend for backend in FakeProviderForBackendV2().backends()}


def fake_backend_names() -> list[str]:
    return sorted(_fake_backends())


def _account_secrets() -> list[str]:
    """The saved accounts' tokens, instances and URLs: what ``redact`` must never let through."""
    try:
        from qiskit_ibm_runtime import QiskitRuntimeService

        accounts = QiskitRuntimeService.saved_accounts()
    except Exception:  # no account file: nothing to hide
        return []
    return [
        str(value)
        for account in accounts.values()
        for key, value in account.items()
        if key in ("token", "instance", "url", "proxies") and value
    ]


def redact(text: str) -> str:
    """``text`` without the saved account's secrets or anything shaped like a token."""
    for secret in _account_secrets():
        text = text.replace(secret, "[redacted]")
    return _TOKEN_LIKE.sub("[redacted]", text)


def validate_backend_name(name: str, n_qubits: int) -> None:
    """A one-line ``ConfigError`` for an unknown fake backend or one with too few qubits; the
    account's backends are checked when the run opens them (that needs the network)."""
    if not is_local(name):
        return
    backends = _fake_backends()
    if name not in backends:
        raise ConfigError(
            f"unknown fake backend {name!r}; use one of qiskit_ibm_runtime.fake_provider's "
            f"{len(backends)} (fake_manila, fake_nairobi, fake_torino, ...; all of them: python "
            '-c "from qgpt_jax.quantum.ibm_runtime import fake_backend_names as f; print(f())"), '
            "or a backend of your IBM Quantum account"
        )
    check_width(backends[name], name, n_qubits)


def check_width(backend, name: str, n_qubits: int) -> None:
    """A one-line ``ConfigError`` when ``backend`` has fewer than ``n_qubits`` qubits."""
    if n_qubits > backend.num_qubits:
        raise ConfigError(
            f"backend {name!r} has {backend.num_qubits} qubits but the circuit needs "
            f"{n_qubits}; use fewer qubits or a larger backend"
        )


@functools.cache
def runtime_backend(name: str):
    """The backend called ``name``: a fake one for local testing, else the saved account's.

    No account, or a backend the account cannot use, is a ``QuantumExecutionError`` (exit 3)
    naming the backend and the error's type only: its message may carry account details.
    """
    if is_local(name):
        validate_backend_name(name, 0)
        return _fake_backends()[name]
    from qiskit_ibm_runtime import QiskitRuntimeService

    try:
        service = QiskitRuntimeService()
    except Exception as exc:
        raise QuantumExecutionError(
            f"no IBM Quantum account to run backend {name!r} ({type(exc).__name__}); {ACCOUNT_HELP}"
        ) from None
    try:
        return service.backend(name)
    except Exception as exc:
        raise QuantumExecutionError(
            f"backend {name!r} is not available to the saved IBM Quantum account "
            f"({type(exc).__name__}); list yours with QiskitRuntimeService().backends()"
        ) from None


def shot_seconds(circuit, readout_layout, backend) -> float:
    """Seconds one shot of the ISA ``circuit`` takes on ``backend``: its gates and the readout
    of ``readout_layout`` as the backend's target times them, plus the repetition delay between
    shots (the backend's default)."""
    from qiskit import ClassicalRegister

    measured = circuit.copy()
    bits = ClassicalRegister(len(readout_layout), "readout")
    measured.add_register(bits)
    measured.measure(list(readout_layout), bits)
    return measured.estimate_duration(backend.target, unit="s") + rep_delay_seconds(backend)


def rep_delay_seconds(backend) -> float:
    """The backend's default delay between shots (0 where it does not say)."""
    try:
        return float(backend.configuration().default_rep_delay or 0.0)
    except AttributeError:
        return 0.0


class RuntimeCircuit(BatchedAerCircuit):
    """A circuit run by IBM Runtime's ``SamplerV2`` on ``backend``: one PUB per call.

    The batched Aer path's program, binding, readout and parameter-shift gradient, with the ISA
    circuit of ``backend`` and Runtime as the job runner. Counts what it submitted: ``job_ids``,
    ``pubs``, ``shots_submitted`` and (as every runner) ``executions``, the bindings run.
    """

    def __init__(
        self,
        n_qubits: int,
        backend: str,
        shots: int,
        threads: int | None = None,
        circuit: Circuit = ATTENTION,
    ):
        if shots is None:
            raise ConfigError("IBM Runtime samples: give --shots, e.g. --shots 1024")
        validate_backend_name(backend, n_qubits)
        self.backend_name = backend
        self.backend = runtime_backend(backend)
        check_width(self.backend, backend, n_qubits)  # an account's backend, known only now
        self.job_ids: list[str] = []
        self.pubs = self.shots_submitted = 0
        super().__init__(n_qubits, shots=shots, noise=None, threads=threads, circuit=circuit)

    def connect(self, threads: int | None):
        from qiskit_ibm_runtime import Batch, SamplerV2

        self.batch = Batch(backend=self.backend)
        return SamplerV2(mode=self.batch)

    def probe(self, program) -> None:
        """On a fake backend, one binding through the whole path (not counted); on hardware
        transpiling is the check: a probe job would wait in the queue."""
        if is_local(self.backend_name):
            super().probe(program)
            self.job_ids.clear()
            self.pubs = self.shots_submitted = 0

    def transpile(self, gates: tuple[Gate, ...]):
        return transpile_for(gates, self.n_qubits, self.backend)

    def run(self, program, bindings: np.ndarray) -> np.ndarray:
        """The readout values (M, outputs) for every row of ``bindings`` (M, P): one Runtime job
        of one PUB, ``shots`` samples per binding."""
        if self.batch is None:  # closed with its run's scope, called again by a cached program
            self.simulator = self.connect(None)
        sampler = self.simulator
        if is_local(self.backend_name):
            # Local testing: job k samples with seed k + 1, so runs repeat (Runtime 0.45's local
            # service ignores a seed of 0).
            sampler.options.simulator.seed_simulator = self._jobs + 1
        try:
            job = sampler.run([(program.job.circuit, bindings)], shots=self.shots)
            self.job_ids.append(job.job_id())
            result = job.result()
        except Exception as exc:
            raise self._failure(len(bindings), redact(str(exc))) from None
        self._jobs += 1
        self.pubs += 1
        self.executions += len(bindings)
        self.shots_submitted += len(bindings) * self.shots
        bits = result[0].data.readout.to_bool_array(order="little")  # (M, shots, n): bit i, qubit i
        outcomes = bits.astype(np.int64) @ (1 << np.arange(self.n_qubits))  # (M, shots)
        n_rows, n_states = len(bindings), 2**self.n_qubits
        rows = np.arange(n_rows)[:, None] * n_states
        counts = np.bincount((outcomes + rows).ravel(), minlength=n_rows * n_states)
        return counts.reshape(n_rows, n_states) / self.shots @ self.readout_matrix

    def _failure(self, n_bindings: int, detail) -> QuantumExecutionError:
        message = " ".join(str(detail).split())
        self.last_failure = QuantumExecutionError(
            f"IBM Runtime job of {n_bindings} circuit bindings on {self.backend_name} failed "
            f"({self.n_qubits} qubits, shots={self.shots}): {message}"
        )
        return self.last_failure

    def submitted(self) -> dict:
        """What went to Runtime: the backend, jobs with their ids, PUBs and shots."""
        return {
            "backend": self.backend_name,
            "local_testing": is_local(self.backend_name),
            "jobs": len(self.job_ids),
            "pubs": self.pubs,
            "shots": self.shots_submitted,
            "job_ids": list(self.job_ids),
        }

    def close(self) -> None:
        """Close the Runtime ``Batch``; a later call opens a new one."""
        if self.batch is not None:
            self.batch.close()
            self.batch = None

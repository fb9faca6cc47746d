"""Test, lint and benchmark sessions. ``nox -s tests`` is what CI runs."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True

PYPROJECT = nox.project.load_toml("pyproject.toml")
CONSTRAINTS = ("-c", "constraints.txt")


def install_project(session: nox.Session, extras: str = "dev") -> None:
    session.install(*CONSTRAINTS, "-e", f".[{extras}]")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (slow tests excluded); extra arguments go to pytest."""
    install_project(session, "dev,torch")
    session.run("pytest", "-m", "not slow", *session.posargs)


@nox.session(default=False)
def slow(session: nox.Session) -> None:
    """Run only the slow tests (longer training runs, pennylane-qiskit device)."""
    install_project(session, "dev,torch")
    session.run("pytest", "-m", "slow", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Lint with ruff, at the version the dev extra names."""
    ruff = [dep for dep in PYPROJECT["project"]["optional-dependencies"]["dev"] if "ruff" in dep]
    session.install(*CONSTRAINTS, *ruff)
    session.run("ruff", "check", "qgpt_jax", "experiments", "tests", "noxfile.py", *session.posargs)


@nox.session(default=False)
def compare(session: nox.Session) -> None:
    """Run the classical-vs-quantum comparison; arguments go to experiments.compare."""
    install_project(session)
    session.run("python", "-m", "experiments.compare", *session.posargs)


STUDY_SIZES = {
    # preset: (seeds, training steps, models). Steps at which the classical loss has flattened
    # (see the loss curves in each report); `small` takes the subset that fits about an hour of
    # a 2-core CPU: every kind with its surrogate and classical-matched, and classical.
    "original": ("0,1,2,3,4,5,6,7,8,9", "1000", "study"),
    "original-large": ("0,1,2,3,4,5,6,7,8,9", "1000", "study"),
    "small": ("0,1,2,3,4", "2000", "study"),
}


def run_study(session: nox.Session, preset: str) -> None:
    seeds, iters, models = STUDY_SIZES[preset]
    session.run(
        "python", "-m", "experiments.compare", "--models", models, "--seeds", seeds,
        "--preset", preset, "--iters", iters, "--out", f"runs/study-{preset}", *session.posargs,
    )


@nox.session(default=False)
def study(session: nox.Session) -> None:
    """The study at one size: every quantum kind with its controls, 10 seeds, preset original.

    Later arguments win: ``nox -s study -- --preset original-large --iters 500 --out DIR``."""
    install_project(session)
    run_study(session, "original")


@nox.session(name="study-all", default=False)
def study_all(session: nox.Session) -> None:
    """The study at three sizes (original, original-large, small), then the sizes side by side."""
    install_project(session)
    for preset in STUDY_SIZES:
        run_study(session, preset)
    session.run(
        "python", "-m", "experiments.study_sizes", *(f"runs/study-{p}" for p in STUDY_SIZES),
        "--out", "runs/study-sizes",
    )


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmark training throughput per model and device; arguments go to experiments.bench."""
    install_project(session)
    session.run("python", "-m", "experiments.bench", *session.posargs)

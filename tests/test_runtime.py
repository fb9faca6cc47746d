"""``import qgpt_jax`` changes nothing global; ``qgpt_jax.runtime.configure_process`` (what the
entry points run) makes its changes explicitly; ``qgpt_jax.private_api`` fails loudly.

The import checks run in a fresh interpreter: this test process has long since imported
everything (and conftest has lowered threefry as the entry points do).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from qgpt_jax import private_api, runtime
from qgpt_jax.errors import QGPTError, QuantumExecutionError

REPO = Path(__file__).resolve().parents[1]

SNAPSHOT = textwrap.dedent("""
    import importlib.util, json, logging, os, sys, warnings

    def snapshot():
        levels = {name: logger.level for name, logger in logging.root.manager.loggerDict.items()
                  if isinstance(logger, logging.Logger)}
        levels[""] = logging.root.level
        return {"filters": [repr(f) for f in warnings.filters],
                "showwarning": repr(warnings.showwarning), "levels": levels,
                "environ": dict(os.environ)}

    def changes(before, after):
        out = {}
        if after["filters"] != before["filters"]:
            out["warnings.filters"] = [f for f in after["filters"] if f not in before["filters"]]
        if after["showwarning"] != before["showwarning"]:
            out["warnings.showwarning"] = after["showwarning"]
        levels = {name: level for name, level in after["levels"].items()
                  if level != before["levels"].get(name, logging.NOTSET)}
        if levels:
            out["logger levels"] = levels
        environ = {k: v for k, v in after["environ"].items() if before["environ"].get(k) != v}
        environ.update({k: None for k in before["environ"] if k not in after["environ"]})
        if environ:
            out["os.environ"] = environ
        return out
""")

IMPORT_EVERYTHING = SNAPSHOT + textwrap.dedent("""
    import importlib, pkgutil

    def import_everything():
        import experiments, qgpt_jax
        names = []
        for package in (qgpt_jax, experiments):
            for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
                importlib.import_module(info.name)
                names.append(info.name)
        return names

    if sys.argv[1] == "list":  # the other libraries that importing everything loads, in order
        loaded = set(sys.modules)
        import_everything()
        ours = ("qgpt_jax", "experiments")
        print(json.dumps([name for name in sys.modules
                          if name not in loaded and name.split(".")[0] not in ours]))
        sys.exit()

    # The baseline: every other library loaded first, so that what they do at import (scipy's
    # and urllib3's warning filters, for one) is theirs; JAX registers its own lowering rules.
    for name in json.loads(open(sys.argv[2]).read()):
        try:
            importlib.import_module(name)
        except Exception:
            pass

    # The private-API module from its file, so that the package's __init__ has not run yet.
    spec = importlib.util.spec_from_file_location("baseline_private_api", sys.argv[3])
    baseline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(baseline)
    primitive, unrolled, rolled = baseline.threefry_rules()
    rule_before = baseline.cpu_lowering_rule(primitive)
    before = snapshot()

    imported = import_everything()
    out = changes(before, snapshot())
    rule_after = baseline.cpu_lowering_rule(primitive)
    if rule_after is not rule_before:
        out["threefry cpu lowering"] = "replaced"
    print(json.dumps({"changes": out, "imported": imported,
                      "stock_rule": rule_before is rolled}))
""")

CONFIGURE = SNAPSHOT + textwrap.dedent("""
    import argparse
    import jax, qgpt_jax
    from qgpt_jax import private_api, runtime

    def lowered(keys):  # a batch of keys, split: what a seed axis does every step
        return jax.jit(jax.vmap(lambda k: jax.random.split(k, 3))).lower(keys)

    keys = jax.vmap(jax.random.key)(jax.numpy.arange(4))
    loops_before = lowered(keys).as_text().count("stablehlo.while")
    values_before = jax.random.key_data(jax.jit(jax.vmap(jax.random.split))(keys))
    before = snapshot()
    if sys.argv[1] == "configure_process":
        qgpt_jax.configure_process()
    else:  # the entry points' path
        from qgpt_jax.cli import setup_runtime
        setup_runtime(argparse.Namespace(compile_cache="off"))
    first = snapshot()
    again = runtime.unroll_threefry_on_cpu()
    qgpt_jax.configure_process()
    jax.clear_caches()
    values_after = jax.random.key_data(jax.jit(jax.vmap(jax.random.split))(keys))
    print(json.dumps({
        "changes": changes(before, first),
        "front_filters": first["filters"][:4],
        "idempotent": changes(first, snapshot()) == {} and again is False,
        "unrolled": runtime.threefry_unrolled_on_cpu(),
        "callback_logger": private_api.jax_callback_logger().level,
        "loops": [loops_before, lowered(keys).as_text().count("stablehlo.while")],
        "same_values": bool((values_before == values_after).all()),
    }))
""")


def run_fresh(script: str, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "TF_CPP_MIN_LOG_LEVEL")}
    env["JAX_PLATFORMS"] = "cpu"
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_package_changes_nothing_global(tmp_path):
    others = tmp_path / "others.json"
    others.write_text(json.dumps(run_fresh(IMPORT_EVERYTHING, "list")))
    out = run_fresh(IMPORT_EVERYTHING, "check", str(others), private_api.__file__)
    assert {"qgpt_jax.runtime", "qgpt_jax.train", "qgpt_jax.cli", "experiments.compare"} <= set(
        out["imported"]
    )
    assert out["stock_rule"]  # the baseline is JAX's own rolled CPU rule
    assert out["changes"] == {}


@pytest.mark.parametrize("how", ["configure_process", "setup_runtime"])
def test_the_set_up_step_makes_each_change_once(how):
    out = run_fresh(CONFIGURE, how)
    changes = out["changes"]
    assert changes["os.environ"] == {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"}
    assert "warnings.filters" in changes
    # In front of every other filter (Python's default already ignores DeprecationWarning, but
    # only outside __main__, and behind filters a library may add).
    filters = "\n".join(out["front_filters"])
    for category in ("DeprecationWarning", "FutureWarning"):
        assert f"('ignore', None, <class '{category}'>, None, 0)" in filters
    assert "'pennylane.*'" in filters and "'.*astype.*'" in filters
    assert changes["logger levels"] == {"jax._src.callback": 50}
    assert out["callback_logger"] == 50  # logging.CRITICAL
    assert out["unrolled"]
    assert out["idempotent"]
    # The point of the lowering: a batch of keys no longer splits in a rolled loop, and its
    # values are the same bits.
    assert out["loops"][0] > 0 and out["loops"][1] == 0
    assert out["same_values"]


def test_conftest_lowers_threefry_as_the_entry_points_do():
    assert runtime.threefry_unrolled_on_cpu()
    assert runtime.unroll_threefry_on_cpu() is False  # already in place: nothing to do


def test_configure_xla_keeps_what_the_user_set(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=true")
    runtime.configure_xla(host_devices=4)
    assert os.environ["XLA_FLAGS"] == (
        "--xla_cpu_multi_thread_eigen=true --xla_force_host_platform_device_count=4"
    )


def test_return_freed_memory_runs_anywhere():
    runtime.return_freed_memory()


def test_a_moved_jax_internal_is_a_clear_error(monkeypatch):
    monkeypatch.delattr("jax._src.random.threefry2x32._threefry2x32_lowering_rule")
    with pytest.raises(QGPTError) as caught:
        private_api.threefry_rules()
    message = str(caught.value)
    assert f"checked against jax {private_api.CHECKED_AGAINST['jax']}" in message
    assert "constraints.txt" in message


def test_a_moved_lightning_internal_is_a_quantum_execution_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pennylane_lightning.lightning_base._serialize", None)
    with pytest.raises(QuantumExecutionError, match="pennylane-lightning .*checked against"):
        private_api.lightning_kernels()


def test_private_names_are_reached_only_through_private_api():
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for folder in ("qgpt_jax", "experiments")
        for path in sorted((REPO / folder).rglob("*.py"))
        if path.name != "private_api.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "._src" in line
        or "lightning_base._" in line
        or "ctypes" in line
        and path.name != "runtime.py"
    ]
    assert offenders == []


def test_a_swallowed_ctrl_c_is_raised_again_at_the_next_check():
    """Python loses a KeyboardInterrupt raised inside a garbage-collector callback; the entry
    points' handler remembers it, and the engine's next check raises it again."""
    import signal

    # a shell's background job starts with SIGINT ignored, which interrupts_kept respects
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    hook = sys.unraisablehook
    runtime.raise_if_interrupted()  # outside an entry point: nothing
    with runtime.interrupts_kept():
        handler = signal.getsignal(signal.SIGINT)
        assert isinstance(handler, runtime.KeptInterrupt)
        try:  # what the collector does with an exception from its callback
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # the handler runs between bytecodes
                pass
        except KeyboardInterrupt:
            pass
        assert handler.requested
        with pytest.raises(KeyboardInterrupt):
            runtime.raise_if_interrupted()
        runtime.raise_if_interrupted()  # raised once
    restored = signal.signal(signal.SIGINT, before)
    assert restored is signal.default_int_handler and sys.unraisablehook is hook

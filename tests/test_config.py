"""qgpt_jax.config: presets, overrides, validation, immutability."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import jax
import pytest

import qgpt_jax.config
from qgpt_jax.attention import kind_of, validated
from qgpt_jax.config import DeviceConfig, ModelConfig, TrainConfig
from qgpt_jax.errors import ConfigError, QGPTError
from qgpt_jax.model import init
from qgpt_jax.presets import PRESETS
from qgpt_jax.quantum.devices import DEVICES


def test_original_preset_model_fields():
    mc = ModelConfig.from_preset("original")
    assert (mc.n_embd, mc.n_head, mc.n_layer, mc.block_size) == (16, 2, 2, 8)
    assert mc.dropout == 0.1
    assert mc.vocab_size == 65  # tiny-shakespeare's character set
    assert mc.attention == "classical"
    assert mc.head_size == 8
    assert not kind_of(mc).runs_circuits and mc.n_quantum_heads == 0


def test_original_preset_train_fields():
    tc = TrainConfig.from_preset("original")
    assert tc.batch_size == 4
    assert tc.learning_rate == 1e-3
    assert tc.max_iters == 1000
    assert tc.eval_iters == 20
    assert tc.eval_interval == 100


def test_original_large_preset():
    mc = ModelConfig.from_preset("original-large")
    tc = TrainConfig.from_preset("original-large")
    assert (mc.n_embd, mc.n_head, mc.n_layer, mc.block_size) == (32, 4, 3, 16)
    assert (tc.batch_size, tc.learning_rate, tc.max_iters) == (12, 2e-3, 1000)


def test_tiny_preset_is_small():
    mc = ModelConfig.from_preset("tiny")
    tc = TrainConfig.from_preset("tiny")
    assert (mc.n_embd, mc.n_head, mc.n_layer, mc.block_size, mc.dropout) == (8, 2, 1, 8, 0.0)
    assert (tc.batch_size, tc.max_iters, tc.eval_iters) == (2, 30, 2)


def test_presets_split_between_the_two_classes():
    model_fields = {f.name for f in dataclasses.fields(ModelConfig)}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for name, preset in PRESETS.items():
        assert preset.name == name and preset.source, name  # each says where it comes from
        assert set(preset.values) <= model_fields | train_fields, name
        ModelConfig.from_preset(name), TrainConfig.from_preset(name)  # and builds


def test_nanogpt_presets_follow_nanogpts_shakespeare_char_settings():
    cpu = ModelConfig.from_preset("nanogpt-cpu"), TrainConfig.from_preset("nanogpt-cpu")
    gpu = ModelConfig.from_preset("nanogpt-gpu"), TrainConfig.from_preset("nanogpt-gpu")
    shape = "n_layer", "n_head", "n_embd", "block_size", "dropout"
    assert tuple(getattr(cpu[0], f) for f in shape) == (4, 4, 128, 64, 0.0)
    assert tuple(getattr(gpu[0], f) for f in shape) == (6, 6, 384, 256, 0.2)
    assert (cpu[1].batch_size, cpu[1].max_iters, gpu[1].batch_size, gpu[1].max_iters) == (
        12,
        2000,
        64,
        5000,
    )
    for tc in (cpu[1], gpu[1]):
        schedule = (tc.learning_rate, tc.min_learning_rate, tc.warmup_iters, tc.lr_schedule)
        assert schedule == (1e-3, 1e-4, 100, "cosine")
        assert (tc.grad_clip, tc.beta2, tc.weight_decay) == (1.0, 0.99, 0.1)


def test_presets_are_read_only():
    with pytest.raises(TypeError):
        PRESETS["huge"] = PRESETS["tiny"]
    with pytest.raises(TypeError):
        PRESETS["tiny"].values["n_embd"] = 4096


def test_overrides_apply_on_top_of_the_preset():
    mc = ModelConfig.from_preset("original", n_layer=3, attention="enhance")
    assert mc.n_layer == 3 and mc.attention == "enhance"
    assert (mc.n_embd, mc.n_head, mc.block_size) == (16, 2, 8)
    assert kind_of(mc).runs_circuits and mc.n_quantum_heads == 2
    tc = TrainConfig.from_preset("original", max_iters=7, seed=3)
    assert (tc.max_iters, tc.seed, tc.batch_size) == (7, 3, 4)


def test_quantum_heads_are_at_most_two_per_layer():
    assert ModelConfig.from_preset("original-large", attention="original").n_quantum_heads == 2
    assert ModelConfig(n_embd=8, n_head=1, attention="enhance").n_quantum_heads == 1


def test_unknown_preset_names_the_valid_ones():
    with pytest.raises(ConfigError) as info:
        ModelConfig.from_preset("huge")
    message = str(info.value)
    assert "huge" in message
    for name in PRESETS:
        assert name in message
    with pytest.raises(ConfigError, match="original-large"):
        TrainConfig.from_preset("huge")


def test_unknown_field_names_the_valid_ones():
    with pytest.raises(ConfigError) as info:
        ModelConfig.from_preset("original", n_embed=32)
    message = str(info.value)
    assert "n_embed" in message and "n_embd" in message and "block_size" in message
    # A training field is not a model field, and the other way round.
    with pytest.raises(ConfigError, match="learning_rate"):
        ModelConfig.from_preset("original", learning_rate=1.0)
    with pytest.raises(ConfigError, match="n_embd"):
        TrainConfig.from_preset("original", n_embd=32)


def test_config_error_is_a_user_error_with_exit_code_2():
    assert issubclass(ConfigError, QGPTError) and issubclass(ConfigError, ValueError)
    assert ConfigError.exit_code == 2


def test_n_embd_must_be_divisible_by_n_head():
    with pytest.raises(ConfigError, match=r"n_embd \(16\) must be divisible by n_head \(3\)"):
        ModelConfig(n_embd=16, n_head=3)


@pytest.mark.parametrize("field", ["vocab_size", "n_embd", "n_head", "n_layer", "block_size"])
@pytest.mark.parametrize("value", [0, -1])
def test_sizes_must_be_positive(field, value):
    with pytest.raises(ConfigError, match=field):
        ModelConfig(**{field: value})


@pytest.mark.parametrize("field", ["batch_size", "eval_interval", "eval_iters", "steps_per_call"])
def test_train_counts_must_be_positive(field):
    with pytest.raises(ConfigError, match=field):
        TrainConfig(**{field: 0})


@pytest.mark.parametrize(
    "overrides",
    [
        dict(max_iters=-1),
        dict(learning_rate=0.0),
        dict(quantum_learning_rate=-1e-3),
        dict(weight_decay=-0.1),
        dict(beta1=1.0),
        dict(beta2=-0.1),
        dict(eps=0.0),
    ],
)
def test_train_values_are_validated(overrides):
    with pytest.raises(ConfigError):
        TrainConfig(**overrides)


def test_zero_iterations_are_allowed():
    assert TrainConfig(max_iters=0).max_iters == 0


@pytest.mark.parametrize("dropout", [1.0, 1.5, -0.1])
def test_dropout_must_be_below_one(dropout):
    with pytest.raises(ConfigError, match="dropout"):
        ModelConfig(dropout=dropout)


def test_dropout_zero_is_allowed():
    assert ModelConfig(dropout=0.0).dropout == 0.0


def test_unknown_attention_kind_lists_the_known_ones():
    with pytest.raises(ConfigError) as info:
        validated(ModelConfig(attention="quantum"))
    message = str(info.value)
    assert "'quantum'" in message
    for kind in ("classical", "original", "enhance"):
        assert kind in message


def test_unknown_device_lists_the_known_ones():
    with pytest.raises(ConfigError) as info:
        validated(ModelConfig(attention="enhance", quantum_device=DeviceConfig("ibm_brisbane")))
    message = str(info.value)
    assert "ibm_brisbane" in message
    for name in DEVICES:
        assert name in message


def test_shots_on_an_exact_device_are_rejected():
    with pytest.raises(ConfigError) as info:
        validated(ModelConfig(attention="enhance", quantum_device=DeviceConfig(shots=100)))
    message = str(info.value)
    assert "default.qubit" in message
    # The message points at the devices that can sample.
    for name, spec in DEVICES.items():
        assert (name in message.split("one of:")[-1]) == spec.shots


@pytest.mark.parametrize("shots", [0, -5])
def test_shots_must_be_positive(shots):
    with pytest.raises(ConfigError, match="shots"):
        ModelConfig(attention="original", quantum_device=DeviceConfig(shots=shots))


@pytest.mark.parametrize("n_qubits", [1, 21])
def test_n_qubits_range(n_qubits):
    with pytest.raises(ConfigError, match="n_qubits"):
        ModelConfig(attention="original", n_qubits=n_qubits)


def test_configs_are_frozen():
    mc = ModelConfig.from_preset("original")
    tc = TrainConfig.from_preset("original")
    with pytest.raises(dataclasses.FrozenInstanceError):
        mc.n_embd = 32
    with pytest.raises(dataclasses.FrozenInstanceError):
        tc.learning_rate = 1.0


def test_replace_revalidates():
    mc = ModelConfig.from_preset("original")
    with pytest.raises(ConfigError):
        dataclasses.replace(mc, n_head=5)
    with pytest.raises(ConfigError):
        validated(dataclasses.replace(mc, attention="enhance").on(device="nowhere"))


def test_configs_are_hashable_and_compare_by_value():
    a = ModelConfig.from_preset("original", attention="enhance")
    b = ModelConfig.from_preset("original", attention="enhance")
    assert a == b and hash(a) == hash(b)  # forward() uses the config as a static jit argument
    assert a != dataclasses.replace(a, n_layer=1)


def test_to_dict_round_trips():
    mc = ModelConfig.from_preset(
        "original-large", attention="original", n_qubits=3, device="aer", shots=256
    )
    tc = TrainConfig.from_preset("tiny", quantum_learning_rate=0.05)
    assert ModelConfig.from_dict(mc.to_dict()) == mc
    assert TrainConfig(**tc.to_dict()) == tc


def test_device_is_kept_apart_from_the_architecture():
    """Where quantum heads run is not what the model is: the architecture has no device field,
    the same model runs elsewhere with .on(), and flat dicts from before the split still load."""
    mc = ModelConfig.from_preset("original", attention="enhance", device="aer", noise="manila")
    assert mc.quantum_device == DeviceConfig("aer", noise="manila")
    assert (mc.device, mc.shots, mc.noise) == ("aer", None, "manila")
    assert not {"device", "shots", "noise", "aer_threads", "quantum_device"} & set(
        mc.architecture()
    )
    elsewhere = mc.on(device="default.qubit", noise=None)
    assert elsewhere.architecture() == mc.architecture() and elsewhere.device == "default.qubit"
    flat = {
        **mc.architecture(),
        "device": "aer",
        "shots": None,
        "noise": "manila",
        "aer_threads": None,
    }
    assert ModelConfig.from_dict(flat) == mc
    with pytest.raises(ConfigError, match="--noise needs an Aer device"):
        validated(mc.on(device="default.qubit"))  # manila noise cannot follow it there


def test_names_from_before_the_rename_still_work():
    """`seed` meant the original project's head kind and preset; old checkpoints, results and
    commands keep working under the new names."""
    from qgpt_jax.study import parse_models

    assert ModelConfig(attention="seed").attention == "original"
    assert ModelConfig.from_preset("seed") == ModelConfig.from_preset("original")
    assert TrainConfig.from_preset("seed-large") == TrainConfig.from_preset("original-large")
    assert parse_models("classical,seed,enhance") == ["classical", "original", "enhance"]
    assert not kind_of(ModelConfig(attention="seed")).causal


@pytest.mark.parametrize(
    ("cls", "fields", "message"),
    [
        (ModelConfig, {"attention": 3}, "attention must be the name of an attention kind, got 3"),
        (ModelConfig, {"attention": ""}, "attention must be the name of an attention kind"),
        (DeviceConfig, {"device": None}, "device must be the name of a quantum device, got None"),
        (DeviceConfig, {"noise": 5}, "noise must be the name of a noise backend"),
    ],
)
def test_names_are_strings_on_construction(cls, fields, message):
    """What the config checks without the registries: a kind or device name is a string."""
    with pytest.raises(ConfigError, match=message):
        cls(**fields)


def test_validated_returns_the_config_the_kind_and_device_accept():
    mc = ModelConfig.from_preset("tiny", attention="enhance", device="aer", shots=64)
    assert validated(mc) is mc


def test_the_model_validates_a_config_made_in_code():
    """A config that never passed an entry point fails in the model with the kind's message."""
    with pytest.raises(ConfigError, match="unknown attention kind 'quantum'; choose one of: "):
        init(ModelConfig.from_preset("tiny", attention="quantum"), jax.random.key(0))
    with pytest.raises(ConfigError, match="unknown quantum device 'nowhere'"):
        init(
            ModelConfig.from_preset("tiny", attention="enhance", device="nowhere"),
            jax.random.key(0),
        )


IMPORT_CONFIG_ALONE = """
import json, sys, types
package = types.ModuleType("qgpt_jax")  # the package without its __init__ (which imports all)
package.__path__ = [sys.argv[1]]
sys.modules["qgpt_jax"] = package
import qgpt_jax.config
print(json.dumps(sorted(name for name in sys.modules if name.startswith(("qgpt_jax.", "jax")))))
"""


def test_config_is_the_lowest_layer():
    """Importing the config module loads no attention kind, no quantum device, not even JAX."""
    folder = str(Path(qgpt_jax.config.__file__).parent)
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_CONFIG_ALONE, folder],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert json.loads(out) == ["qgpt_jax.config", "qgpt_jax.errors", "qgpt_jax.presets"]

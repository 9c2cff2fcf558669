"""Defaults live in the config schema (what users see); every dataclass default agrees with it.

A default changed on one side only fails here: a dataclass field whose default differs
from the schema's, a schema key without a field or a field without a key, or a method
that builds differently from a bare spec than from the spec with the schema's defaults.
"""

from __future__ import annotations

import dataclasses

import pytest

from torch import nn

from resfed import state as st
from resfed.codec import CodecConfig, QSGDCodec, UniformCodec, layout_of
from resfed.config import load_schema, method_keys, validate
from resfed.link import LinkSettings
from resfed.methods import strategy_class
from resfed.methods.fedpm import PMSettings
from resfed.methods.fedsz import SZSettings
from resfed.methods.igc import IGCSettings
from resfed.methods.links import LinkStrategy
from resfed.strategy import REGISTRY, RunContext
from resfed.local_training import TrainSettings
from test_config import MINIMAL

SCHEMA = load_schema()
DEFS = SCHEMA["$defs"]


def _defaults(properties):
    return {key: value["default"] for key, value in properties.items() if "default" in value}


def _field_defaults(cls, names=None):
    fields = {f.name: f.default for f in dataclasses.fields(cls) if names is None or f.name in names}
    return {name: list(value) if isinstance(value, tuple) else value for name, value in fields.items()}


LINK_SET = {"raw"}  # UniformCodec.raw: the entries the link sends exactly (buffers), not a config key


def _config_fields(cls):
    return [f for f in dataclasses.fields(cls) if f.name not in LINK_SET]


def _keys(codec, cls):
    """The schema keys of one codec stage, with the defaults the schema fills in for it: a
    direction's config holds every stage's keys and `stage`; the uniform stage's defaults
    are in the branch that applies when it is chosen, top-k's where it is not."""
    stages = (CodecConfig, UniformCodec)
    assert set(codec["properties"]) == {"stage"} | {f.name for stage in stages for f in _config_fields(stage)}
    defaults = codec["then" if cls is UniformCodec else "else"]["properties"]
    return {f.name: {**codec["properties"][f.name], **defaults.get(f.name, {})} for f in _config_fields(cls)}


# (dataclass, the schema properties it mirrors); every field is a key and every key a field
MIRRORS = {
    "CodecConfig": (CodecConfig, _keys(DEFS["codec"], CodecConfig)),
    "UniformCodec": (UniformCodec, _keys(DEFS["codec"], UniformCodec)),
    "TrainSettings": (TrainSettings, SCHEMA["properties"]["train"]["properties"]),
    "SZSettings": (SZSettings, DEFS["method_fedsz"]["properties"]["fedsz"]["properties"]),
    "PMSettings": (PMSettings, DEFS["method_fedpm"]["properties"]["fedpm"]["properties"]),
    "IGCSettings": (IGCSettings, DEFS["method_igc"]["properties"]["igc"]["properties"]),
    "QSGDCodec": (QSGDCodec, DEFS["method_qsgd"]["properties"]["qsgd"]["properties"]),
}


@pytest.mark.parametrize("name", sorted(MIRRORS))
def test_dataclass_defaults_are_the_schema_defaults(name):
    cls, properties = MIRRORS[name]
    assert {f.name for f in _config_fields(cls)} == set(properties)
    assert _field_defaults(cls, set(properties)) == _defaults(properties)


def test_link_and_method_defaults_are_the_schema_defaults():
    resfed_keys = DEFS["method_resfed"]["properties"]
    link_keys = {"order", "formula", "warmup"}
    assert _field_defaults(LinkSettings, link_keys) == _defaults({k: resfed_keys[k] for k in link_keys})
    assert LinkSettings().error_feedback == DEFS["links"]["properties"]["error_feedback"]["default"]
    assert LinkStrategy.dl_anchor == resfed_keys["dl_anchor"]["default"]
    # a direction left out of the config (no default: null) is the lossless link
    assert "default" not in DEFS["links"]["properties"]["ul"] and LinkSettings().codec.lossless
    assert LinkSettings().buffers == DEFS["links"]["properties"]["buffers"]["default"]


def _resolved(variant):
    return validate({**MINIMAL, "variants": {"baseline": variant}})["variants"]["baseline"]


def _settings(method, variant):
    """What a method keeps of its variant spec: its settings objects and plain values."""
    model = nn.Linear(3, 2)
    initial = st.clone(model.state_dict())
    context = RunContext(model, initial, layout_of(initial), TrainSettings(), seed=0, n_clients=2)
    strategy = strategy_class(method)(variant, context)
    kept = {name: getattr(strategy, name) for name in ("ul", "dl", "dl_anchor") if hasattr(strategy, name)}
    kept |= {name: value for name, value in vars(strategy).items() if name != "context"
             and (dataclasses.is_dataclass(value) or isinstance(value, str | int | float | bool))}
    return kept


@pytest.mark.parametrize("codecs", [{}, {"ul": {}, "dl": {}}], ids=["lossless", "codec-defaults"])
@pytest.mark.parametrize("method", sorted(REGISTRY))
def test_a_bare_variant_builds_like_the_resolved_one(method, codecs):
    # a method's fallbacks for keys left out (spec.get(key, default)) are the schema's defaults
    takes = set(method_keys(SCHEMA, method))
    bare = {"method": method, **{key: value for key, value in codecs.items() if key in takes}}
    assert _settings(method, bare) == _settings(method, _resolved(bare))

"""Partition scheme spelling: one parser, one canonical spelling, one path spelling."""

from __future__ import annotations

import re

import pytest

from resfed.config import ConfigError, run_spec, validate
from resfed.partition_scheme import SLUG_PATTERN, Scheme, parse_scheme, scheme_slug
from resfed.report.table1 import paper_setting
from test_config import MINIMAL


@pytest.mark.parametrize("text, spec, slug", [
    ("iid", "iid", "iid"),
    ("classes:5", "classes:5", "classes-5"),
    ("classes-2", "classes:2", "classes-2"),
    ("dirichlet:0.5", "dirichlet:0.5", "dirichlet-0.5"),
    ("dirichlet-0.50", "dirichlet:0.5", "dirichlet-0.5"),
    ("dirichlet:1", "dirichlet:1", "dirichlet-1"),
    ("dirichlet-1e-05", "dirichlet:1e-05", "dirichlet-1e-05"),
    (" classes:50 ", "classes:50", "classes-50"),
])
def test_scheme_spellings(text, spec, slug):
    s = parse_scheme(text)
    assert s.spec == spec and s.slug == slug and scheme_slug(text) == slug
    assert parse_scheme(s.slug) == parse_scheme(s.spec) == s


@pytest.mark.parametrize("text, pattern", [
    ("pathological", r"unknown partition scheme 'pathological'; allowed: iid, classes:k .* dirichlet:alpha"),
    ("classes", r"classes needs a parameter"),
    ("classes:0", r"k must be >= 1"),
    ("classes:2.5", r"k must be a positive integer, got '2.5'"),
    ("classes:-1", r"k must be a positive integer"),
    ("dirichlet:0", r"alpha must be finite and > 0"),
    ("dirichlet:-0.5", r"alpha must be finite and > 0"),
    ("dirichlet:inf", r"alpha must be finite and > 0"),
    ("dirichlet:abc", r"alpha must be a number"),
    ("iid:3", r"iid takes no parameter"),
])
def test_bad_schemes(text, pattern):
    with pytest.raises(ValueError, match=pattern):
        parse_scheme(text)


@pytest.mark.parametrize("text, slug", [
    ("iid", "iid"), ("classes:5", "classes-5"), ("dirichlet:0.5", "dirichlet-0.5"), ("dirichlet:0.50", "dirichlet-0.5"),
])
def test_round_trips(text, slug):
    scheme = parse_scheme(text)
    assert scheme_slug(text) == slug
    assert parse_scheme(scheme.spec) == parse_scheme(scheme.slug) == scheme
    assert str(scheme) == scheme.spec and parse_scheme(scheme) is scheme


@pytest.mark.parametrize("text", ["iid", "classes:5", "classes:50", "dirichlet:0.5", "dirichlet:100", "dirichlet:1e-05"])
def test_the_wildcard_pattern_matches_every_slug(text):
    assert re.fullmatch(SLUG_PATTERN, scheme_slug(text)) and ":" not in scheme_slug(text)
    assert not re.fullmatch(SLUG_PATTERN, "classes:5") and not re.fullmatch(SLUG_PATTERN, "iid-1")


def test_run_directories_use_the_same_slug_as_partition_files():
    config = validate(MINIMAL)
    assert run_spec(config, "fmnist", "dirichlet:0.50", "baseline", 0)["partition"] == "dirichlet-0.5"
    assert run_spec(config, "fmnist", "classes:5", "baseline", 0)["partition"] == "classes-5"


@pytest.mark.parametrize("partition", ["dirichlet:0", "dirichlet:1.2.3", "classes:0", "noniid"])
def test_the_config_check_parses_every_partition(partition):
    bad = {**MINIMAL, "experiments": {"e": {"datasets": ["fmnist"], "partitions": ["iid", partition],
                                            "variants": ["baseline"]}}}
    with pytest.raises(ConfigError, match=r"config key 'experiments\.e\.partitions\.1': .*partition scheme"):
        validate(bad)


def test_the_report_reads_the_paper_columns_with_the_same_parser():
    assert paper_setting("iid") == "iid"
    assert paper_setting("classes:5") == paper_setting("classes-5") == paper_setting("classes:05") == "non-iid"
    assert paper_setting("dirichlet:0.5") is None and paper_setting("nonsense") is None
    assert Scheme("classes", 5).slug == "classes-5"

"""Damaged or mismatched inputs stop the CLI (run as a subprocess) with one line naming the file and the fix."""

import json
import shutil

import pytest

from cli_helpers import TINY, assert_one_clean_line, resfed
from resfed.config import load_config, run_spec
from resfed.data import sidecar_path
from resfed.data.partition import partition_hash


@pytest.fixture(scope="module")
def inputs(tiny_inputs):
    return (run_spec(load_config(TINY), "mnist", "iid", "baseline", 0), *tiny_inputs)


def assert_one_line(result, *fragments):
    assert result.returncode == 1, result.stdout + result.stderr
    assert_one_clean_line(result, *fragments)


def _truncate(npz, side):
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])


def _empty(npz, side):
    npz.write_bytes(b"")


def _flip_a_data_byte(npz, side):
    raw = bytearray(npz.read_bytes())
    raw[len(raw) // 3] ^= 0x40
    npz.write_bytes(bytes(raw))


def _drop_checksum(npz, side):
    meta = json.loads(side.read_text())
    del meta["data_sha256"]
    side.write_text(json.dumps(meta))


def _edit_num_classes(npz, side):
    meta = json.loads(side.read_text())
    meta["num_classes"] = 5
    side.write_text(json.dumps(meta))


@pytest.mark.parametrize("damage, what", [
    (_truncate, "not a readable npz"), (_empty, "not a readable npz"), (_flip_a_data_byte, "mnist.npz"),
    (_drop_checksum, "lacks data_sha256"), (_edit_num_classes, "edited after prepare"),
])
def test_damaged_prepared_data_names_the_file_and_the_rebuild(inputs, tmp_path, damage, what):
    _, data, _ = inputs
    npz = tmp_path / "mnist.npz"
    shutil.copy(data, npz)
    shutil.copy(sidecar_path(data), sidecar_path(npz))
    damage(npz, sidecar_path(npz))
    result = resfed("partition", "--data", npz, "--scheme", "iid", "--clients", 2, "--seed", 0,
                    "--out", tmp_path / "p.json")
    assert_one_line(result, what, f"resfed prepare --dataset mnist --out {npz}")


def test_a_wrong_data_path_says_so(tmp_path):
    result = resfed("partition", "--data", tmp_path / "mnsit.npz", "--scheme", "iid", "--clients", 2,
                    "--seed", 0, "--out", tmp_path / "p.json")
    assert_one_line(result, f"{tmp_path / 'mnsit.npz'}: no such prepared data file")


def _edited_partition(partition, tmp_path, edit):
    doc = json.loads(partition.read_text())
    edit(doc)
    doc["hash"] = partition_hash(doc["clients"])  # an edit that keeps the hash honest
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(doc))
    return path


def _out_of_range(doc):
    doc["clients"][0][-1] = 10**6


def _empty_client(doc):
    doc["clients"][0] = []
    doc["sizes"][0] = 0
    doc["n_samples"] = sum(doc["sizes"])


def _wrong_sizes(doc):
    doc["sizes"] = doc["sizes"][::-1]
    doc["sizes"][0] += 1


def _other_scheme(doc):
    doc["scheme"] = "classes:5"


@pytest.mark.parametrize("edit, what", [
    (_out_of_range, "client 0 holds sample index 1000000, but the data has 60000 training samples"),
    (_empty_client, "client(s) [0] hold no sample"),
    (_wrong_sizes, "header says 4 clients of sizes"),
    (_other_scheme, "a classes:5 partition, but the run spec asks for iid"),
])
def test_a_bad_partition_stops_training_before_it_starts(inputs, tmp_path, edit, what):
    spec, data, partition = inputs
    path = _edited_partition(partition, tmp_path, edit)
    result = resfed("train", "--spec", json.dumps(spec), "--data", data, "--partition", path,
                    "--out", tmp_path / "run", "--quiet")
    assert_one_line(result, str(path), what)
    assert not (tmp_path / "run" / "run.json").exists()


def test_missing_or_incomplete_specs(inputs, tmp_path):
    spec, data, partition = inputs
    common = ["--data", data, "--partition", partition, "--out", tmp_path / "run", "--quiet"]
    missing = resfed("train", "--spec", tmp_path / "spec.json", *common)
    assert_one_line(missing, f"spec file {tmp_path / 'spec.json'} not found", "resfed spec --configfile")
    incomplete = tmp_path / "incomplete.json"
    incomplete.write_text(json.dumps({k: v for k, v in spec.items() if k != "threads"}))
    assert_one_line(resfed("train", "--spec", incomplete, *common), str(incomplete), "lacks threads")
    assert_one_line(resfed("train", "--spec", "{not json", *common), "--spec: not valid JSON")

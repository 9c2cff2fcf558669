"""Every registered method honours the contract of resfed.strategy (see method_contract.py)."""

import pytest

import method_contract as contract

pytestmark = pytest.mark.parametrize("method", contract.METHODS)


def test_both_directions_exchange_real_bytes(method):
    contract.check_both_directions_exchange_real_bytes(method)


def test_digests_agree_every_transfer(method):
    contract.check_digests_agree_every_transfer(method)


def test_hostile_messages_raise_only_message_error(method):
    contract.check_hostile_messages_raise_only_message_error(method)


def test_same_seed_same_records(method):
    contract.check_same_seed_same_records(method)


def test_resume_is_exact(method, tmp_path):
    contract.check_resume_is_exact(method, tmp_path)


def test_value_snapshots_record_held_models(method, tmp_path):
    contract.check_value_snapshots_record_held_models(method, tmp_path)

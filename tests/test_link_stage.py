"""A direction's lossy stage chosen in its codec config: `stage: uniform` in a real run."""

import pytest
from federation_helpers import make_federation
from method_contract import IDENTITY, comparable
from test_config import MINIMAL

from resfed import checkpoint
from resfed import state as st
from resfed.codec import UniformCodec
from resfed.config import ConfigError, validate
from resfed.methods.links import link_settings, stage_codec

PARAMETERS = 61_706  # LeNet-5 on 28x28


def test_resfed_with_a_uniform_uplink_stays_in_sync_and_sends_fewer_bytes():
    # Prepare: ResFed's uplink through the uniform stage at 0.5 bits per entry, downlink lossless
    variant = {"method": "resfed", "order": 1, "ul": {"stage": "uniform", "bits_per_entry": 0.5}}
    federation = make_federation(variant)
    # Execute
    records = federation.run(4)
    lossless = make_federation({"method": "resfed", "order": 1}).run(4)
    # Assert: every link in sync, the uplink within its budget after the lossless first round
    assert [r.sync_ok for r in records] == [True] * 4
    for i, client in enumerate(federation.clients):
        assert client.ul_sender.last_digest == federation.server.ul_receivers[i].last_digest
        assert st.digest(client.last_local) == st.digest(federation.server.client_local[i])
    assert isinstance(federation.clients[0].ul_sender.message_codec, UniformCodec)
    assert all(0 < b <= 0.5 * PARAMETERS / 8 + 200 for r in records[1:] for b in r.ul_bytes)
    assert sum(sum(r.ul_bytes) for r in records) < sum(sum(r.ul_bytes) for r in lossless) / 2
    assert records[-1].test_accuracy > 0.5


@pytest.mark.parametrize(
    "options", [{"trellis": True}, {"prediction_gain": True}, {"kernel_dct": True}], ids=lambda o: next(iter(o))
)
def test_resfed_with_a_uniform_option_stays_in_sync(options):
    # Prepare: the uniform stage with one of its options on the uplink, from a validated config
    ul = {"stage": "uniform", "bits_per_entry": 0.5, **options}
    resolved = validate({**MINIMAL, "variants": {"baseline": {"method": "resfed", "ul": ul}}})
    variant = resolved["variants"]["baseline"]
    federation = make_federation({"method": "resfed", "order": 1, "ul": variant["ul"]})
    # Execute
    records = federation.run(3)
    # Assert: the option's codec on the link (with the predicted update where it needs it),
    # every link in sync, the clients' models recovered exactly, within the budget
    codec = federation.clients[0].ul_sender.message_codec
    assert codec == UniformCodec(0.5, **options) and codec.needs_prediction == options.get("prediction_gain", False)
    assert [r.sync_ok for r in records] == [True] * 3
    for i, client in enumerate(federation.clients):
        assert st.digest(client.last_local) == st.digest(federation.server.client_local[i])
    assert all(0 < b <= 0.5 * PARAMETERS / 8 + 200 for r in records[1:] for b in r.ul_bytes)


def test_the_stage_is_a_config_key_with_defaults():
    resolved = validate({**MINIMAL, "variants": {"baseline": {"method": "resfed", "ul": {"stage": "uniform"}}}})
    ul = resolved["variants"]["baseline"]["ul"]
    assert stage_codec(ul) == UniformCodec() and stage_codec(None) is None
    assert stage_codec({"sparsity": 0.9}) is None and link_settings({"ul": {"sparsity": 0.9}}, "ul").codec.sparsity == 0.9
    with pytest.raises(ConfigError, match="stage"):
        validate({**MINIMAL, "variants": {"baseline": {"method": "resfed", "ul": {"stage": "lattice"}}}})
    with pytest.raises(ValueError, match="unknown keys"):
        stage_codec({"stage": "uniform", "step": 0.1})


def test_resfed_error_feedback_sends_what_the_last_message_left_out():
    # Prepare: ResFed Res-1, the uniform uplink at 0.2 bits per entry, with and without error feedback
    variant = {"method": "resfed", "order": 1, "ul": {"stage": "uniform", "bits_per_entry": 0.2}}
    with_feedback = make_federation({**variant, "error_feedback": True})
    without = make_federation(variant)
    # Execute
    records = with_feedback.run(3)
    plain = without.run(3)
    # Assert: in sync; the first messages are the same, the error they leave changes the second
    sender = with_feedback.clients[0].ul_sender
    assert sender.settings.error_feedback and not without.clients[0].ul_sender.settings.error_feedback
    assert [r.sync_ok for r in records] == [True] * 3
    assert any(float(e.abs().sum()) > 0 for e in sender.error.values())
    assert without.clients[0].ul_sender.error is None
    assert records[0].ul_digest_sender == plain[0].ul_digest_sender
    assert records[1].ul_digest_sender != plain[1].ul_digest_sender


def test_resfed_anchor_trajectory_stays_in_sync_and_predicts_from_the_global_steps():
    # Prepare: Res-1 over the uniform uplink, predicting from the global model's steps
    variant = {"method": "resfed", "order": 1, "ul": {"stage": "uniform", "bits_per_entry": 0.2}}
    anchored = make_federation({**variant, "trajectory": "anchor"})
    # Execute
    records = anchored.run(3)
    own = make_federation(variant).run(3)
    # Assert: in sync; round 1 (Res-0 both ways) identical, then the predictions differ
    assert [r.sync_ok for r in records] == [True] * 3
    sender, receiver = anchored.clients[0].ul_sender, anchored.server.ul_receivers[0]
    assert st.digest(sender.last_anchor) == st.digest(receiver.last_anchor)
    assert st.digest(sender.history[-1]) == st.digest(receiver.history[-1])
    assert records[0].ul_digest_sender == own[0].ul_digest_sender
    assert records[1].ul_digest_sender != own[1].ul_digest_sender


def test_resfed_anchor_trajectory_resumes_exactly(tmp_path):
    # Prepare: both directions lossy and anchored, 3 of 4 clients per round, so a client's
    # anchor step may span rounds it skipped; a checkpoint after round 2
    variant = {"method": "resfed", "order": 1, "trajectory": "anchor",
               "ul": {"stage": "uniform", "bits_per_entry": 0.2}, "dl": {"sparsity": 0.99, "bits": 1}}
    reference = make_federation(variant, fraction=0.75).run(3)
    first = make_federation(variant, fraction=0.75)
    checkpoint.save(tmp_path / "state.pt", first, first.run(2), IDENTITY)
    # Execute
    resumed = make_federation(variant, fraction=0.75)
    done = checkpoint.load(tmp_path / "state.pt", resumed, IDENTITY)
    # Assert: the resumed run's round 3 is the uninterrupted one's, digests included
    assert comparable(resumed.run(3, done=done)) == comparable(reference)

"""The residual-codec mods on an unmodified Flower app (Flower's FedAvg strategy), in process."""

import pytest
import torch

pytest.importorskip("flwr", reason="Flower is not installed (pip install -e '.[flower]')")

from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict  # noqa: E402
from flwr.clientapp import ClientApp  # noqa: E402
from flwr.serverapp.strategy import FedAvg  # noqa: E402

from resfed.codec import CodecConfig  # noqa: E402
from resfed.federation import SyncError  # noqa: E402
from resfed.flower.mods import CODED, ResidualGrid, residual_mod  # noqa: E402
from resfed.link import LOSSLESS, LinkSettings  # noqa: E402
from flower_helpers import LocalGrid  # noqa: E402

N_NODES = 3
RES1 = LinkSettings(CodecConfig(sparsity=0.99, bits=1), predictor="trajectory", order=1)
RES1_LOSSLESS = LinkSettings(LOSSLESS, predictor="trajectory", order=1)


@pytest.fixture(autouse=True)
def task_identity(monkeypatch):
    from flwr.supercore.task_identity import TaskIdentity

    for name, value in (("_task_id", 1), ("_run_id", 1), ("_node_id", 0)):
        monkeypatch.setattr(TaskIdentity, name, value)


def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4))


def node_data(node: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(node)
    inputs = torch.randn(64, 20, generator=generator)
    return inputs, (inputs[:, :4].argmax(dim=1))


def client_app(mods: list) -> ClientApp:
    """A plain Flower ClientApp: a few SGD steps on the node's data, the model back in `arrays`."""
    app = ClientApp(mods=mods)

    @app.train()
    def train(message: Message, context: Context) -> Message:
        net = model()
        net.load_state_dict(message.content.array_records["arrays"].to_torch_state_dict())
        inputs, labels = node_data(context.node_config["partition-id"])
        optimiser = torch.optim.SGD(net.parameters(), lr=0.1)
        for _ in range(5):
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(net(inputs), labels).backward()
            optimiser.step()
        content = RecordDict({"arrays": ArrayRecord(net.state_dict()), "metrics": MetricRecord({"num-examples": 64})})
        return Message(content, reply_to=message)

    @app.evaluate()
    def evaluate(message: Message, context: Context) -> Message:
        net = model()
        net.load_state_dict(message.content.array_records["arrays"].to_torch_state_dict())
        inputs, labels = node_data(context.node_config["partition-id"])
        accuracy = float((net(inputs).argmax(dim=1) == labels).float().mean())
        return Message(RecordDict({"metrics": MetricRecord({"accuracy": accuracy, "num-examples": 64})}), reply_to=message)

    return app


def run(settings: LinkSettings | None, rounds: int = 3):
    """FedAvg for `rounds` rounds; with `settings`, through the mod and the ResidualGrid."""
    mods = [residual_mod(settings, settings)] if settings else []
    local = LocalGrid(client_app(mods), [{"partition-id": i} for i in range(N_NODES)], {})
    grid = ResidualGrid(local, settings, settings) if settings else local
    result = FedAvg().start(grid=grid, initial_arrays=ArrayRecord(model().state_dict()), num_rounds=rounds)
    return result.arrays.to_torch_state_dict(), local


def test_lossless_residuals_give_fedavgs_models():
    plain, _ = run(None)
    coded, grid = run(RES1_LOSSLESS)
    for name in plain:
        torch.testing.assert_close(coded[name], plain[name], rtol=0, atol=1e-5)
    assert any(CODED in content.config_records for _, content in grid.sent)


def test_res1_at_99_percent_and_1_bit_shrinks_the_traffic():
    initial = model().state_dict()
    raw = sum(t.numel() * 4 for t in initial.values())
    final, grid = run(RES1)
    coded = [content.config_records[CODED]["data"] for _, content in grid.sent if CODED in content.config_records]
    first = [content for _, content in grid.sent if "arrays" in content.array_records]
    assert len(first) == N_NODES  # each downlink's first model as Flower sent it, then only coded ones
    assert len(coded) == N_NODES * (2 * 3 - 1)  # 3 train + 3 evaluate messages per node
    assert max(len(data) for data in coded) < raw / 20
    assert any(not torch.equal(final[name], initial[name]) for name in initial)


def test_a_changed_byte_stops_the_run():
    mods = [residual_mod(RES1, RES1)]
    local = LocalGrid(client_app(mods), [{"partition-id": i} for i in range(N_NODES)], {})
    grid = ResidualGrid(local, RES1, RES1)
    pull = local.pull_messages

    def tampered(ids):
        replies = list(pull(ids))
        for reply in replies:
            if CODED in reply.content.config_records:
                record = reply.content.config_records[CODED]
                record["digest"] = "0" * 32
        return replies

    local.pull_messages = tampered
    with pytest.raises(SyncError, match="ul transfer 1"):
        FedAvg().start(grid=grid, initial_arrays=ArrayRecord(model().state_dict()), num_rounds=2)

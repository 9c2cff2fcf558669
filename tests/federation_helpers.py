"""A tiny learnable federated problem for round-loop tests (seconds on a CPU)."""

import torch

from resfed.federation import Federation
from resfed.methods import builder
from resfed.models import build_model
from resfed.local_training import TrainSettings


def tiny_problem(n_clients: int = 4, per_client: int = 48, seed: int = 0):
    """Images whose class is encoded in their mean brightness pattern, split across clients."""
    generator = torch.Generator().manual_seed(seed)
    total = n_clients * per_client + 100
    labels = torch.arange(total) % 10
    patterns = torch.randn(10, 1, 28, 28, generator=generator)
    inputs = 2 * patterns[labels] + 0.3 * torch.randn(total, 1, 28, 28, generator=generator)
    clients = [
        (inputs[i * per_client : (i + 1) * per_client], labels[i * per_client : (i + 1) * per_client])
        for i in range(n_clients)
    ]
    return clients, (inputs[-100:], labels[-100:])


def make_federation(variant: dict, seed: int = 0, settings: TrainSettings | None = None, **kwargs) -> Federation:
    clients, test = tiny_problem(seed=seed)
    torch.manual_seed(seed)
    return Federation(
        model=build_model("lenet5", 1, 10, 28),
        build=builder(variant),
        client_data=clients,
        test_data=test,
        settings=settings or TrainSettings(lr=0.05, batch_size=16),
        seed=seed,
        **kwargs,
    )

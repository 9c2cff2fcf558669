"""Model tests: parameter counts are part of the reproduction (Tab. B1 / DESIGN), so pin them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad

from resfed.models import (
    MODELS,
    LeNet5,
    PaperCNN,
    ResNet18,
    build_model,
    count_parameters,
)

# (name, in_channels, num_classes, image_size, expected trainable parameters)
COUNTS = [
    ("lenet5", 1, 10, 28, 61_706),  # MNIST / FMNIST, Tab. B1
    ("lenet5", 3, 10, 32, 83_126),  # flatten follows the input (16*6*6)
    ("cnn", 3, 10, 32, 1_020_160),  # CIFAR-10, Tab. B1
    ("cnn", 3, 100, 32, 1_388_800),  # CIFAR-100: Tab. B1 repeats the 10-class count
    ("resnet18", 3, 10, 32, 11_181_642),  # SVHN (RGB), the one used
    ("resnet18", 1, 10, 32, 11_175_370),  # Tab. B1's number (1-channel stem)
]


@pytest.mark.parametrize(("name", "cin", "ncls", "size", "expected"), COUNTS)
def test_parameter_counts(name: str, cin: int, ncls: int, size: int, expected: int) -> None:
    model = build_model(name, cin, ncls, size)
    assert count_parameters(model) == expected
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == expected


@pytest.mark.parametrize(("cin", "expected"), [(3, 11_173_962), (1, 11_172_810)])
def test_resnet18_cifar_stem_counts(cin: int, expected: int) -> None:
    assert count_parameters(ResNet18(cin, 10, stem="cifar")) == expected


def test_bn_stats_are_buffers_not_parameters() -> None:
    model = PaperCNN()
    buffer_names = {n for n, _ in model.named_buffers()}
    assert any(n.endswith("running_mean") for n in buffer_names)
    assert not any("running" in n for n, _ in model.named_parameters())


@pytest.mark.parametrize(("name", "cin", "ncls", "size", "expected"), COUNTS)
def test_forward_shape(name: str, cin: int, ncls: int, size: int, expected: int) -> None:
    model = build_model(name, cin, ncls, size)
    x = torch.randn(2, cin, size, size)
    model.train()
    out = model(x)
    assert out.shape == (2, ncls)
    assert torch.isfinite(out).all()
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (2, ncls)


def test_resnet18_cifar_stem_forward() -> None:
    out = ResNet18(3, 10, stem="cifar")(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)


def test_build_model_types_and_case() -> None:
    assert MODELS == ("lenet5", "cnn", "resnet18")
    assert isinstance(build_model("lenet5", 1, 10, 28), LeNet5)
    assert isinstance(build_model("CNN", 3, 10, 32), PaperCNN)
    assert isinstance(build_model("ResNet18", 3, 10, 32), ResNet18)


def test_build_model_unknown_name_lists_allowed() -> None:
    with pytest.raises(ValueError) as err:
        build_model("vgg16", 3, 10, 32)
    for name in MODELS:
        assert name in str(err.value)


@pytest.mark.parametrize(
    ("name", "cin", "ncls", "size"),
    [
        ("lenet5", 0, 10, 28),
        ("cnn", 3, 0, 32),
        ("resnet18", 3, 10, 0),
        ("lenet5", 1, 10, 8),  # too small for two 5x5 convs and two pools
        ("cnn", 3, 10, 4),  # too small for three 2x2 pools
    ],
)
def test_build_model_rejects_bad_sizes(name: str, cin: int, ncls: int, size: int) -> None:
    with pytest.raises(ValueError):
        build_model(name, cin, ncls, size)


def test_resnet18_rejects_unknown_stem() -> None:
    with pytest.raises(ValueError):
        ResNet18(3, 10, stem="bogus")  # type: ignore[arg-type]


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", MODELS)
def test_init_deterministic_under_seed(name: str) -> None:
    cin, size = (1, 28) if name == "lenet5" else (3, 32)
    torch.manual_seed(123)
    a = _state(build_model(name, cin, 10, size))
    torch.manual_seed(123)
    b = _state(build_model(name, cin, 10, size))
    torch.manual_seed(124)
    c = _state(build_model(name, cin, 10, size))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


@pytest.mark.parametrize("name", MODELS)
def test_functional_call_matches_module_and_grads(name: str) -> None:
    """The training loop uses torch.func; the models must run under it unchanged."""
    cin, size = (1, 28) if name == "lenet5" else (3, 32)
    torch.manual_seed(0)
    model = build_model(name, cin, 10, size).eval()
    x = torch.randn(4, cin, size, size)
    y = torch.randint(0, 10, (4,))
    params = {k: v.detach().clone() for k, v in model.named_parameters()}
    buffers = {k: v.detach().clone() for k, v in model.named_buffers()}
    with torch.no_grad():
        ref = model(x)
    out = functional_call(model, (params, buffers), (x,))
    assert torch.allclose(out, ref, atol=1e-5, rtol=1e-5)

    def loss_fn(p: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.cross_entropy(functional_call(model, (p, buffers), (x,)), y)

    grads = grad(loss_fn)(params)
    assert grads.keys() == params.keys()
    assert all(torch.isfinite(g).all() for g in grads.values())


def test_functional_call_train_mode_bn() -> None:
    """BN in train mode under functional_call: batch statistics, running stats updated."""
    torch.manual_seed(0)
    model = PaperCNN().train()
    params = dict(model.named_parameters())
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    before = buffers["features.3.running_mean"].clone()
    out = functional_call(model, (params, buffers), (torch.randn(4, 3, 32, 32),))
    assert out.shape == (4, 10)
    assert not torch.equal(buffers["features.3.running_mean"], before)

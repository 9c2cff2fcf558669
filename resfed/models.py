"""The three networks of the ResFed paper (Tab. B1), in plain ``torch.nn``.

Parameter counts are part of the reproduction (the paper's V, and the bits a lossless
round costs), so each class documents the count it gives and why:

================  ===========================  ============  ==========================
name              input / classes              parameters    paper (Tab. B1)
================  ===========================  ============  ==========================
``lenet5``        1x28x28, 10 (MNIST, FMNIST)  61,706        61,706
``cnn``           3x32x32, 10 (CIFAR-10)       1,020,160     1,020,160
``cnn``           3x32x32, 100 (CIFAR-100)     1,388,800     1,020,160 (see PaperCNN)
``resnet18``      3x32x32, 10 (SVHN, RGB)      11,181,642    11,175,370 (1-channel stem)
================  ===========================  ============  ==========================

All models return raw logits (use ``F.cross_entropy``), use out-of-place ReLU and
residual additions so that ``torch.func.functional_call`` / ``torch.func.grad`` work, and
initialise only through ``torch``'s global RNG, so ``torch.manual_seed`` fixes them.
torchvision is not needed (and is optional in this project).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "MODELS",
    "LeNet5",
    "PaperCNN",
    "ResNet18",
    "BasicBlock",
    "build_model",
    "count_parameters",
]

#: Names accepted by :func:`build_model`.
MODELS: tuple[str, ...] = ("lenet5", "cnn", "resnet18")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (the paper's V); BN running stats are buffers."""
    return sum(p.numel() for p in model.parameters())


class LeNet5(nn.Module):
    """LeNet-5 as in the official ResFed code: 61,706 parameters for 1x28x28, 10 classes.

    conv(in->6, 5x5, pad 2) - ReLU - maxpool 2 - conv(6->16, 5x5) - ReLU - maxpool 2 -
    fc(16*s*s -> 120) - ReLU - fc(120 -> 84) - ReLU - fc(84 -> classes).

    The flatten size ``s`` follows ``image_size`` (5 for 28x28, 6 for 32x32), so the
    same class serves 3x32x32 inputs (83,126 parameters there).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28) -> None:
        super().__init__()
        _check_positive(in_channels=in_channels, num_classes=num_classes, image_size=image_size)
        side = (image_size // 2 - 4) // 2  # conv1 keeps size (pad 2), conv2 removes 4
        if side < 1:
            raise ValueError(f"LeNet5 needs image_size >= 12, got {image_size}")
        self.conv1 = nn.Conv2d(in_channels, 6, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.fc1 = nn.Linear(16 * side * side, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class PaperCNN(nn.Module):
    """The paper's "CNN" for CIFAR: the network the official ResFed code actually builds.

    Layers (3x3 convs, padding 1; spatial size for 32x32 input in brackets)::

        conv0  in->32,   bias, ReLU                        [32]
        conv1  32->64,   no bias, BN, ReLU, maxpool 2      [16]
        conv2  64->128,  no bias, BN, ReLU                 [16]
        conv3  128->256, no bias, BN, ReLU, maxpool 2      [8]
        conv4  256->256, no bias, BN, ReLU, maxpool 2      [4]
        fc     256*4*4=4096 -> classes, no bias

    = 896 + (18,432+128) + (73,728+256) + (294,912+512) + (589,824+512) + 40,960
    = **1,020,160** parameters for 3x32x32 and 10 classes, exactly Tab. B1's CIFAR-10 value.

    Why this and not "5 conv + 3 FC" (the paper's footnote): the official code
    (``models/models.py``, class ``CNN``) has 5 convs and a single bias-free FC layer, and
    it hits 1,020,160 exactly. (Its ``OrderedDict`` repeats the keys ``conv3/norm3/relu3``,
    so the 128->128 conv is overwritten by the 128->256 one and only 5 convs remain; the
    layer list above is that effective network.) A systematic search over conventional
    5-conv + 3-FC designs (widths 16..512, kernel 3, BN/bias on/off, final map 1/2/4/8,
    hidden FC widths 32..1024, FC bias on/off) found no design with exactly 1,020,160.
    The official code ends in ``log_softmax`` and then applies ``CrossEntropyLoss``;
    log_softmax is idempotent, so returning logits gives the identical loss.

    CIFAR-100 (100 classes) gives 1,388,800 (the FC grows to 409,600); Tab. B1's
    1,020,160 for CIFAR-100 is the 10-class count repeated, so we keep the architecture
    and report the true count rather than shrink the network to match.

    ``image_size`` must be a multiple of 8 at least 8 (three 2x2 pools); the FC input is
    ``256 * (image_size // 8) ** 2``.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, image_size: int = 32) -> None:
        super().__init__()
        _check_positive(in_channels=in_channels, num_classes=num_classes, image_size=image_size)
        if image_size < 8:
            raise ValueError(f"PaperCNN needs image_size >= 8, got {image_size}")
        side = image_size // 8

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [
                nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(),
            ]

        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            *block(32, 64),
            nn.MaxPool2d(2),
            *block(64, 128),
            *block(128, 256),
            nn.MaxPool2d(2),
            *block(256, 256),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Linear(256 * side * side, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv+BN, 1x1 conv+BN shortcut when the shape changes."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity)  # out of place: safe under torch.func


class ResNet18(nn.Module):
    """ResNet-18 (BasicBlocks [2, 2, 2, 2], widths 64/128/256/512, avgpool, fc).

    ``stem="imagenet"`` (default) is torchvision's ``resnet18`` layout, which the official
    ResFed code uses on 32x32 SVHN (``generate_resnet``: 7x7 stride-2 conv, BN, ReLU,
    3x3 stride-2 maxpool): **11,181,642** parameters with 3 input channels and 10 classes,
    and 11,175,370 with 1 input channel. We use the 3-channel network because SVHN is RGB
    and the official pipeline passes 3 channels for SVHN (``assign_dataset``), which gives
    11,181,642; Tab. B1's 11,175,370 is the 1-channel count (most likely taken with
    ``generate_resnet``'s default ``in_channels=1``). The 7x7 stem's 64*49*2 = 6,272 extra
    weights are the whole difference. Only this stem reproduces either number.

    ``stem="cifar"`` is the common CIFAR variant (3x3 stride-1 conv, no maxpool):
    11,173,962 parameters for 3 channels, 11,172,810 for 1; offered for comparison only.

    Initialisation follows torchvision (Kaiming-normal fan-out convs, BN weight 1 bias 0,
    default ``nn.Linear`` fc), so a seeded model matches the official code's init scheme.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        stem: Literal["imagenet", "cifar"] = "imagenet",
    ) -> None:
        super().__init__()
        _check_positive(in_channels=in_channels, num_classes=num_classes)
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
            self.maxpool: nn.Module = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        elif stem == "cifar":
            self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        else:
            raise ValueError(f"stem must be 'imagenet' or 'cifar', got {stem!r}")
        self.stem = stem
        self.bn1 = nn.BatchNorm2d(64)
        in_planes = 64
        stages = []
        for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            stages.append(nn.Sequential(BasicBlock(in_planes, planes, stride), BasicBlock(planes, planes, 1)))
            in_planes = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build_model(name: str, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """Build a model by config name (case-insensitive); one of :data:`MODELS`.

    ``image_size`` sizes the flatten layer of ``lenet5`` and ``cnn``; ``resnet18`` ends in
    adaptive pooling and ignores it.
    """
    key = name.strip().lower()
    if key == "lenet5":
        return LeNet5(in_channels, num_classes, image_size)
    if key == "cnn":
        return PaperCNN(in_channels, num_classes, image_size)
    if key == "resnet18":
        _check_positive(image_size=image_size)
        return ResNet18(in_channels, num_classes)
    raise ValueError(f"unknown model {name!r}; allowed: {', '.join(MODELS)}")


def _check_positive(**values: int) -> None:
    """Reject non-positive sizes early, with the argument's name, instead of a shape error."""
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key} must be a positive int, got {value!r}")

"""Method ids: the number each method writes into its messages' headers.

One table, imported by the methods and by anything that reads message headers, so an id
cannot be reused or drift between a method and its message formats. Id 0 is the lossless
initial model (`send_initial_model`), which belongs to no method.
"""

from __future__ import annotations

INITIAL_MODEL = 0
METHOD_IDS: dict[str, int] = {
    "fedavg": 1,
    "weights": 2,
    "gradients": 3,
    "resfed": 4,
    "fedsz": 5,
    "fedpm": 6,
    "igc": 7,
    "qsgd": 8,
}

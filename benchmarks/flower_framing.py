"""Bytes resfed puts in a message vs. bytes Flower puts on the wire for it (framing overhead).

For FedAvg and Res-1 at 99 % + 1 bit, LeNet-5 (1x28x28) and the paper CNN (3x32x32):
two in-process rounds on synthetic data give client 0's round-2 uplink message and its
downlink message; each is wrapped as `resfed.flower` wraps it (a ConfigRecord in a
Flower Message) and serialized as a SuperNode sends it: every object of the message
deflated into a `PushObjectRequest`, plus the `PushMessagesRequest` with the metadata and
object tree (protobuf sizes; the HTTP headers around them are not counted). For
reference, the model as an unmodified Flower app sends it (one ArrayRecord).

    PYTHONPATH=$PWD python benchmarks/flower_framing.py  # prints the Markdown table (benchmarks/flower.md)
"""

from __future__ import annotations

import torch
from flwr.app import ArrayRecord, Message, RecordDict
from flwr.app.message import remove_content_from_message
from flwr.common.serde import message_to_proto
from flwr.proto.fleet_pb2 import PushMessagesRequest
from flwr.proto.message_pb2 import PushObjectRequest
from flwr.proto.node_pb2 import Node
from flwr.supercore.inflatable.inflatable_object import get_all_nested_objects, get_object_tree
from flwr.supercore.task_identity import TaskIdentity

from resfed.federation import Federation
from resfed.flower.payload import payload
from resfed.methods import builder
from resfed.models import build_model
from resfed.local_training import TrainSettings

MODELS = {"lenet5": (1, 28), "cnn": (3, 32)}
VARIANTS = {
    "FedAvg": {"method": "fedavg"},
    "Res-1 99 % + 1 bit": {"method": "resfed", "order": 1, "ul": {"sparsity": 0.99, "bits": 1},
                            "dl": {"sparsity": 0.99, "bits": 1}},
}
NODE = Node(node_id=2**63 - 25)


def wire_bytes(content: RecordDict, message_type: str) -> int:
    """Protobuf bytes of the requests that carry a message with `content` from a node to the SuperLink."""
    message = Message(content, dst_node_id=NODE.node_id, message_type=message_type, group_id="2")
    objects = get_all_nested_objects(message)
    pushed = sum(
        PushObjectRequest(node=NODE, run_id=2**63 - 1, object_id=object_id, object_content=obj.deflate(),
                          session_id="0" * 64).ByteSize()
        for object_id, obj in objects.items()
    )
    request = PushMessagesRequest(
        node=NODE, messages_list=[message_to_proto(remove_content_from_message(message))],
        message_object_trees=[get_object_tree(message)], clientapp_runtime_list=[1.0],
    )
    return pushed + request.ByteSize()


def round_two_messages(model_name: str, variant: dict) -> tuple[bytes, bytes, torch.nn.Module]:
    """Client 0's uplink and downlink messages of round 2 (2 clients, 64 synthetic samples each)."""
    channels, size = MODELS[model_name]
    generator = torch.Generator().manual_seed(0)
    clients = [(torch.randn(64, channels, size, size, generator=generator), torch.arange(64) % 10) for _ in range(2)]
    torch.manual_seed(0)
    model = build_model(model_name, channels, 10, size)
    federation = Federation(model=model, build=builder(variant), client_data=clients, test_data=clients[0],
                            settings=TrainSettings(lr=0.01, batch_size=32), seed=0)
    sent: dict[str, bytes] = {}
    receive, downlink = federation.server.receive, federation.clients[0].downlink

    def keep_uplink(client: int, data: bytes, round_index: int) -> None:
        if client == 0:
            sent["ul"] = data
        receive(client, data, round_index)

    def keep_downlink(data: bytes, round_index: int) -> None:
        sent["dl"] = data
        downlink(data, round_index)

    federation.server.receive, federation.clients[0].downlink = keep_uplink, keep_downlink
    for round_index in (1, 2):
        federation.run_round(round_index)
    return sent["ul"], sent["dl"], model


def main() -> None:
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 2**63 - 1, NODE.node_id, 1
    print("| model | method | direction | resfed message (B) | Flower wire (B) | framing (B) | framing (%) |")
    print("|---|---|---|---:|---:|---:|---:|")
    for model_name in MODELS:
        for label, variant in VARIANTS.items():
            ul, dl, model = round_two_messages(model_name, variant)
            rows = [
                ("UL", ul, payload(client=0, data=ul, digest="0" * 32, loss=2.3), "train"),
                ("DL", dl, payload(round=2, data=dl, digest="0" * 32), "train.downlink"),
            ]
            for direction, data, content, kind in rows:
                wire = wire_bytes(content, kind)
                print(f"| {model_name} | {label} | {direction} | {len(data):,} | {wire:,} | {wire - len(data):,} "
                      f"| {100 * (wire - len(data)) / len(data):.1f} |")
        arrays = RecordDict({"arrays": ArrayRecord(model.state_dict())})
        raw = sum(t.numel() * t.element_size() for t in model.state_dict().values())
        wire = wire_bytes(arrays, "train")
        print(f"| {model_name} | unmodified Flower app (ArrayRecord) | UL | {raw:,} (tensor bytes) | {wire:,} "
              f"| {wire - raw:,} | {100 * (wire - raw) / raw:.1f} |")


if __name__ == "__main__":
    main()

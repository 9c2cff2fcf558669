"""The Flower ClientApp: one resfed `Client` endpoint per SuperNode.

Three message types: `query.identify` (which client index this node holds),
`train` (local training from the model the client holds, then its uplink message, or the
reason it diverged) and
`train.downlink` (recover the server's message). Between messages the endpoint lives only
in its `state_dict()`, kept in the node's `context.state` (Flower keeps it per run on the
SuperNode), so a node process may be restarted between rounds.
"""

from __future__ import annotations

import io

import torch
from flwr.app import ConfigRecord, Context, Message
from flwr.clientapp import ClientApp

from resfed import state as st
from resfed.codec import decode
from resfed.federation import client_generator
from resfed.flower.payload import KEY, FlowerRunError, fields, payload
from resfed.flower.run_setup import RunSetup, partition_id, run_setup
from resfed.method_ids import INITIAL_MODEL
from resfed.local_training import evaluate
from resfed.strategy import Client, Diverged

app = ClientApp()


def _client(setup: RunSetup, context: Context) -> Client:
    """This node's endpoint as the last message left it."""
    client = setup.strategy.new_client(partition_id(context, setup.strategy.context.n_clients))
    if KEY in context.state.config_records:
        saved = context.state.config_records[KEY]["client"]
        client.load_state_dict(torch.load(io.BytesIO(saved), weights_only=True))
    return client


def _keep(client: Client, context: Context) -> None:
    buffer = io.BytesIO()
    torch.save(client.state_dict(), buffer)
    context.state.config_records[KEY] = ConfigRecord({"client": buffer.getvalue()})


def _check_initial(data: bytes, setup: RunSetup) -> None:
    """The server's initial model must be the one this node built from the seed."""
    initial = setup.strategy.context.initial
    _, received = decode(data, setup.strategy.context.layout, expected_method=INITIAL_MODEL, expected_round=0)
    if st.digest(received) != st.digest(initial):
        raise FlowerRunError("the server's initial model differs from the one built from the seed")


@app.query("identify")
def identify(message: Message, context: Context) -> Message:
    setup = run_setup(context)
    return Message(payload(client=partition_id(context, setup.strategy.context.n_clients)), reply_to=message)


@app.train()
def train(message: Message, context: Context) -> Message:
    """Train locally and answer with the uplink message and the digest of what this end recovered."""
    setup = run_setup(context)
    request = fields(message)
    round_index = int(request["round"])
    if "initial" in request:
        _check_initial(request["initial"], setup)
    client = _client(setup, context)
    inputs, labels = setup.loaded.client_data[client.index]
    try:
        loss = client.fit(inputs, labels, client_generator(setup.seed, client.index, round_index))
    except Diverged as error:  # the server stops the run, as the in-process loop does
        return Message(payload(client=client.index, diverged=str(error)), reply_to=message)
    data = client.uplink(round_index)
    _keep(client, context)
    return Message(payload(client=client.index, data=data, digest=client.digest("ul"), loss=loss), reply_to=message)


@app.train("downlink")
def downlink(message: Message, context: Context) -> Message:
    """Recover the server's message; fail if this end recovered something else than the server did.
    Answers with the test accuracy of the model this client now holds."""
    setup = run_setup(context)
    request = fields(message)
    client = _client(setup, context)
    client.downlink(request["data"], int(request["round"]))
    digest = client.digest("dl")
    if digest != request["digest"]:
        raise FlowerRunError(
            f"downlink of client {client.index}, round {request['round']}: "
            f"server recovered {request['digest']}, client recovered {digest}"
        )
    _keep(client, context)
    loaded = setup.loaded
    accuracy, _ = evaluate(loaded.model, client.model(), *loaded.test_data, batch_size=loaded.settings.eval_batch_size)
    return Message(payload(client=client.index, digest=digest, accuracy=accuracy), reply_to=message)

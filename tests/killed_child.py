"""A training job killed by SIGKILL, run as a child process by the resume tests.

`python -c CHILD spec data partition out where`: `where` is "round" (killed at the start
of round 4, the checkpoint of round 2 on disk) or "checkpoint" (killed halfway through
writing the second checkpoint, after round 4; the first one stays).
"""

import textwrap

CHILD = textwrap.dedent(
    """
    import json, os, signal, sys
    import torch
    from resfed.federation import Federation
    from resfed.run import run_training

    where = sys.argv[5]
    if where == "round":
        original = Federation.run_round

        def run_round(self, round_index):
            if round_index == 4:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(self, round_index)

        Federation.run_round = run_round
    else:
        save, calls = torch.save, []

        def partial_save(obj, handle, *args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                handle.write(b"PK\\x03\\x04 half a checkpoint")
                handle.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            return save(obj, handle, *args, **kwargs)

        torch.save = partial_save
    run_training(json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], progress=False)
    """
)

"""ResFed on Flower (optional extra `flower`): every registered method across real processes.

- `server_app.app` / `client_app.app`: a Flower ServerApp and ClientApp that run a resfed
  run spec through the same Strategy endpoints as the in-process loop
  (`resfed.federation.Federation`); `app/` is the Flower app directory for `flwr run`.
- `mods`: a client mod and its server-side counterpart that carry an unmodified Flower
  app's model traffic as ResFed residual messages.
"""

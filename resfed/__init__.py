"""ResFed: residual-based federated learning with deep compression of model residuals."""

__version__ = "0.1.0"

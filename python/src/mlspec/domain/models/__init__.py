"""The rules of the models area (SPEC section 6): model versions."""

"""The rules of the tracking area (SPEC section 5): runs and their state machine."""

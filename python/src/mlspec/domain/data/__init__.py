"""The rules of the data area (SPEC section 3): datastores, artifacts, dataset versions."""

"""The rules of the metadata area (SPEC section 8): workflow metadata files."""

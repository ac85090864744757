"""SPEC section 2 and what every kind shares: the resource rules, the kind registry, names,
field behaviour, well-formed values and filters over messages."""

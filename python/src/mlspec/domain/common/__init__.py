"""What every kind shares (SPEC section 2).

The resource rules, the kind registry, names, field behaviour, well-formed values and
filters over messages.
"""

"""``python -m mlspec.cli``: the same as the ``mlspec`` command."""

from __future__ import annotations

import sys

from mlspec.cli import main

sys.exit(main())

"""``python -m clearsight.cli``: the same as the ``clearsight`` command."""

from . import main

raise SystemExit(main())

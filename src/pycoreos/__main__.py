"""``python -m pycoreos`` is the same as the ``pycoreos`` command."""

from pycoreos.cli.main import main

raise SystemExit(main())

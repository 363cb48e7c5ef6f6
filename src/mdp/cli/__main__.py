"""``python -m mdp.cli``: the ``mdp`` command."""

import sys

from mdp.cli.main import main

sys.exit(main())

"""``python -m sherpa_rim.cli``: the same as the ``sherpa-rim`` script."""
import sys

from . import main

sys.exit(main())

"""`python -m scan`: see scan/run.py."""

import sys

from scan.run import main

sys.exit(main())

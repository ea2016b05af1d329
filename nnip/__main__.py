import sys

from nnip.cli import main

sys.exit(main())

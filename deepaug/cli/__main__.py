"""`python -m deepaug.cli`: the deepaug command."""
import sys

from deepaug.cli.app import main

sys.exit(main())

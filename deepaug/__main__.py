"""`python -m deepaug`: the deepaug command."""
import sys

from deepaug.cli.app import main

sys.exit(main())

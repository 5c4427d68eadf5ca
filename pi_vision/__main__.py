import sys

from pi_vision.cli import main

sys.exit(main())

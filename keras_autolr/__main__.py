"""`python -m keras_autolr` and the `keras-autolr` console script (see `cli`)."""

import sys

from keras_autolr.tools.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())

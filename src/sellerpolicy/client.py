"""The typed client of the sellerpolicy HTTP service (``pip install 'sellerpolicy[client]'``).

The same objects as :mod:`sellerpolicy.engine.client`, under a short name.
"""

from sellerpolicy.engine.client import *  # noqa: F403
from sellerpolicy.engine.client import __all__ as __all__

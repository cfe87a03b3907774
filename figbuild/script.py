#!python
"""The ``figbuild`` console script, installed as it is (pyproject.toml's wheel
``shared-scripts``; the installer points the first line at the environment's Python).

What pip's generated wrapper of a ``[project.scripts]`` entry point does, without the
``import re`` it starts with: that import (``enum``, the regex compiler) costs more
than figbuild's whole answer to a no-op ``status``, on every LaTeX pass of a build.
"""

import sys

from figbuild.__main__ import main

if __name__ == "__main__":
    sys.exit(main())

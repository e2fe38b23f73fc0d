"""`python -m model_serving.checks.analyze PATH...`"""

from .cli import main

raise SystemExit(main())

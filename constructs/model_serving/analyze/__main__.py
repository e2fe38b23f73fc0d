"""`python -m model_serving.analyze PATH...`"""

from .cli import main

raise SystemExit(main())

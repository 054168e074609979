"""`python -m ui` serves the chat."""

import os

# The launcher's guards (never set by `import rag`): no analytics calls, no hub lookups.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ui.app import main  # noqa: E402

raise SystemExit(main())

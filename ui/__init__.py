"""The Gradio chat over rag's public API. Run it with `python -m ui` (see `ui/app.py`)."""

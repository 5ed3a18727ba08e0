"""llmroute: every LLM API key you hold, usable as one."""

from llmroute._version import __version__

__all__ = ["__version__"]

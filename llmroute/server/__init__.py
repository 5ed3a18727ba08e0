"""``llmroute serve``: one local endpoint, OpenAI- and Ollama-compatible, over every key.

The server stack (aiohttp) is imported only here and only by ``serve``; the core package never imports it.
"""

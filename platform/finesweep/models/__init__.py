"""Base models: resolving a reference to something loadable offline, and LoRA adapters."""

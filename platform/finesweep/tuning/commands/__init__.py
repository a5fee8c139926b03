"""The commands beside the sweep: ``plan`` (preview and its memory estimate), ``reproduce`` and
``train`` (with the model folder it writes)."""

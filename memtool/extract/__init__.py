"""Layer tap (forward hooks as a context manager) and memory-bounded per-layer reducers."""

"""Node types, one package per family."""

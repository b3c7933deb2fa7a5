"""Conduct rules: versioned rulebooks and the pure contact decision engine."""

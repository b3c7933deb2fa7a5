"""`make demo`: the whole product on one machine with embedded defaults."""

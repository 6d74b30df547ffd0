"""Diagnostics: pure functions on validated float32 arrays, registered in one registry."""

"""Results model, gates, renderers."""

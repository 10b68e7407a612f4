"""HTTP edges: the SFJC-compatible external API, the admin API, health and metrics."""

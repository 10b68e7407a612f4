"""API access tokens of the external API: issue, list, revoke and authenticate (``service``)."""

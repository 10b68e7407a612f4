"""ForceBridge: a self-hosted connector between Jira Cloud and Salesforce."""

__version__ = "0.1.0"

"""Associations between Jira issues and Salesforce records (see ``service``)."""

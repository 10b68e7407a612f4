"""Connections: one Jira site paired with one Salesforce org, with encrypted credentials."""

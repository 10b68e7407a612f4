"""The emulated org's users and deterministic demo data (what a reset brings back).

Users always exist (the integration user the credentials log in as, and a "Sandbox Agent" who
stands for the people editing records in the UI); the demo records only when seeding is on.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from forcebridge.sandbox.salesforce.auth import INTEGRATION_USERNAME
from forcebridge.sandbox.salesforce.records import RecordStore, Transaction

AGENT_USERNAME = "agent@forcebridge.sandbox"


def create_users(
    records: RecordStore, tx: Transaction, username: str = INTEGRATION_USERNAME
) -> tuple[str, str]:
    """Creates the integration user and the agent; returns their ids (integration first)."""
    integration_values: dict[str, Any] = {
        "Username": username,
        "FirstName": "Integration",
        "LastName": "User",
        "Email": "integration@example.com",
        "Alias": "integ",
        "Title": "API integration",
    }
    # The first user creates itself: there is nobody else yet to be CreatedById.
    integration_id = records.create_bootstrap_user(tx, integration_values)
    agent_id = records.create(
        tx,
        "User",
        {
            "Username": AGENT_USERNAME,
            "FirstName": "Sandbox",
            "LastName": "Agent",
            "Email": "agent@example.com",
            "Alias": "agent",
            "Title": "Support agent",
        },
        integration_id,
    )
    return integration_id, agent_id


def seed_demo_records(records: RecordStore, tx: Transaction, agent_id: str, today: date) -> None:
    """A few Accounts, Contacts, Cases (with comments), Opportunities and one Jira issue record."""
    accounts = {}
    for name, industry, kind, external_id in (
        ("Acme Corporation", "Manufacturing", "Customer - Direct", "ACME-001"),
        ("Globex Inc", "Technology", "Customer - Channel", "GLOBEX-002"),
        ("Initech", "Finance", "Prospect", "INITECH-003"),
    ):
        accounts[name] = records.create(
            tx,
            "Account",
            {
                "Name": name,
                "Industry": industry,
                "Type": kind,
                "External_Id__c": external_id,
                "Phone": "+1 555 0100",
                "Website": f"https://{name.split()[0].lower()}.example.com",
            },
            agent_id,
        )
    contacts = {}
    for first, last, account in (
        ("Ada", "Lovelace", "Acme Corporation"),
        ("Grace", "Hopper", "Acme Corporation"),
        ("Hank", "Scorpio", "Globex Inc"),
        ("Peter", "Gibbons", "Initech"),
    ):
        contacts[last] = records.create(
            tx,
            "Contact",
            {
                "FirstName": first,
                "LastName": last,
                "AccountId": accounts[account],
                "Email": f"{first.lower()}.{last.lower()}@example.com",
            },
            agent_id,
        )
    cases = [
        (
            "Login page returns 500",
            "Users cannot log in since the last release.",
            "New",
            "High",
            "Web",
            "Acme Corporation",
            "Lovelace",
        ),
        (
            "Invoice totals are rounded wrongly",
            "Totals differ by one cent from the PDF.",
            "Working",
            "Medium",
            "Email",
            "Acme Corporation",
            "Hopper",
        ),
        (
            "Export to CSV times out",
            "Large exports never finish.",
            "Escalated",
            "High",
            "Phone",
            "Globex Inc",
            "Scorpio",
        ),
        (
            "Feature request: dark mode",
            "Several users asked for a dark theme.",
            "New",
            "Low",
            "Web",
            "Globex Inc",
            "Scorpio",
        ),
        (
            "TPS report cover sheet missing",
            "The new cover sheet is not attached.",
            "Closed",
            "Low",
            "Email",
            "Initech",
            "Gibbons",
        ),
        (
            "Password reset email delayed",
            "Reset emails arrive after 20 minutes.",
            "Working",
            "Medium",
            "Phone",
            "Initech",
            "Gibbons",
        ),
    ]
    case_ids = []
    for subject, description, status, priority, origin, account, contact in cases:
        case_ids.append(
            records.create(
                tx,
                "Case",
                {
                    "Subject": subject,
                    "Description": description,
                    "Status": status,
                    "Priority": priority,
                    "Origin": origin,
                    "AccountId": accounts[account],
                    "ContactId": contacts[contact],
                },
                agent_id,
            )
        )
    for case_id, body in (
        (case_ids[0], "Customer confirmed the issue on Chrome and Firefox."),
        (case_ids[0], "Escalating to engineering."),
        (case_ids[2], "Happens only for exports above 50,000 rows."),
    ):
        records.create(
            tx,
            "CaseComment",
            {"ParentId": case_id, "CommentBody": body, "IsPublished": True},
            agent_id,
        )
    for name, stage, amount, days, account in (
        ("Acme renewal 2027", "Negotiation/Review", 120000.0, 30, "Acme Corporation"),
        ("Globex expansion", "Qualification", 45000.0, 60, "Globex Inc"),
        ("Initech pilot", "Closed Won", 15000.0, -10, "Initech"),
    ):
        records.create(
            tx,
            "Opportunity",
            {
                "Name": name,
                "StageName": stage,
                "Amount": amount,
                "CloseDate": (today + timedelta(days=days)).isoformat(),
                "AccountId": accounts[account],
            },
            agent_id,
        )
    records.create(
        tx,
        "Jira_Issue__c",
        {
            "Name": "SUP-1",
            "Issue_Key__c": "SUP-1",
            "Summary__c": "Login page returns 500",
            "Status__c": "In Progress",
            "Priority__c": "High",
            "Labels__c": "backend;customer",
            "Case__c": case_ids[0],
        },
        agent_id,
    )

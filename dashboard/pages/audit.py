"""Audit (admins only): who viewed image details, uploaded, reviewed, signed in, changed users.

Read per request from the audit table; `?action=reviewed` or `?actor=NAME` narrows it. Users
are managed with `cxr users` (see the README); this page lists them.
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import html

from db import audit
from db.users import list_users

dash.register_page(__name__, path="/audit", name="Audit", order=9, title="CXR Lens · Audit",
                   role="admin")

AUDIT_TABLE = "audit-table"
AUDIT_USERS = "audit-users"
ROWS = 500


def _events_table(entries: list[audit.AuditEntry]) -> dbc.Table:
    header = html.Thead(html.Tr([html.Th(name) for name in
                                 ("When (UTC)", "Who", "Action", "What", "Detail")]))
    rows = [html.Tr([html.Td(f"{entry.created_at:%Y-%m-%d %H:%M:%S}"), html.Td(entry.actor),
                     html.Td(entry.action), html.Td(entry.target), html.Td(entry.detail or "")])
            for entry in entries]
    return dbc.Table([header, html.Tbody(rows)], size="sm", striped=True, id=AUDIT_TABLE,
                     className="small")


def _users_table() -> dbc.Table:
    header = html.Thead(html.Tr([html.Th(name) for name in
                                 ("User", "Role", "Active", "Created (UTC)")]))
    rows = [html.Tr([html.Td(user.name), html.Td(user.role),
                     html.Td("yes" if user.active else "disabled"),
                     html.Td(f"{user.created_at:%Y-%m-%d %H:%M}")]) for user in list_users()]
    return dbc.Table([header, html.Tbody(rows)], size="sm", id=AUDIT_USERS, className="small")


def layout(action: str | None = None, actor: str | None = None, **_query: str) -> html.Div:
    entries = audit.recent(ROWS, action=action or None, actor=actor or None)
    return html.Div([
        html.H3("Audit"),
        html.P(f"The newest {len(entries)} events" + (f" of action “{action}”" if action else "")
               + (f" by {actor}" if actor else "") + ". Also: `cxr audit`.",
               className="text-muted"),
        _events_table(entries),
        html.H4("Users", className="mt-4"),
        html.P("Add, change and disable users with `cxr users` on the server.",
               className="text-muted small"),
        _users_table(),
    ])

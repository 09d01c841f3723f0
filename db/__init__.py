"""Results database: ORM models, sessions, migrations and the read side."""

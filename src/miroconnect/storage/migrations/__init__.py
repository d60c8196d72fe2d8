"""Alembic migrations of miroconnect (`script_location = miroconnect.storage:migrations`)."""

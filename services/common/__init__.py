"""Infrastructure glue shared by every service: settings, Dapr, database, errors, auth, health."""

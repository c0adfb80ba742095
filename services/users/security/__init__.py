"""Passwords, tokens and abuse limits of the users service."""

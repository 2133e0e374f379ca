"""Plumbing shared by the Guild services. No business rules live here."""

"""Orphaned interviews: bookings that matched no application, until an admin resolves them."""

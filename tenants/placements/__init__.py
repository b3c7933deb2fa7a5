"""Placements: the agency panel, placing accounts with agencies, allocation and recall."""

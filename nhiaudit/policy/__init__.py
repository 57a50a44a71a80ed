"""Evaluating grants into effective permissions, per provider."""

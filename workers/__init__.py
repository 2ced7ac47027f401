"""Dramatiq broker setup and actors; actors are small and call resolvers."""

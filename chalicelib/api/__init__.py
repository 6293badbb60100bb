"""Chalice blueprints: parse, authorize, call one service, shape the response."""

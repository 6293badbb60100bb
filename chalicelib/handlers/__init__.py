"""Event-source entry points: parse, call one service, report partial batch failures."""

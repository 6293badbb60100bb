"""The hub on one machine: the same Chalice app against an embedded AWS, MQTT broker and sandboxes.

Not deployed. ``python -m localcloud up`` starts every part in one process (threads), so Ctrl-C or
SIGTERM stops all of them and nothing is left behind.
"""

"""Real implementations of the ports: the only place boto3 or a vendor SDK appears."""

"""DynamoDB through PynamoDB: one hub table (single-table design) and one outbox table."""

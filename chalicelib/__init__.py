"""Everything that ships inside the Lambda package."""

"""byok_magic."""

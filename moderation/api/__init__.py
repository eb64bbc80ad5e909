"""REST doors to the moderation services (Discord's paths where the concept exists)."""

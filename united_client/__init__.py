"""Client-side libraries for UNITED API consumers, bots and tests (no Django imports)."""

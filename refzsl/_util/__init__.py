"""Private helpers shared by every layer: files, argument checks, threads."""

"""Evidence records: numbers people can read aloud, and (later) the package format."""

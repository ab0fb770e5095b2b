"""Evidence records: numbers people can read aloud."""

"""Evidence records, their chain of custody, and the uploads that become them (the vault)."""

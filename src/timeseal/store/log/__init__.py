"""The Merkle log's storage: entries, tiles and the signed tree state, in the database."""

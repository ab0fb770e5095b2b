"""The issuance journal shared by the HTTP workers: its process, client and wire format."""

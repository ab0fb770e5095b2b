"""RFC 3161 Time-Stamp Protocol: requests, responses, issuance and verification."""

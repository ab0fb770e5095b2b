"""The Time-Stamp Authority: RFC 3161 issuance, its HTTP fast path, and the clock guard."""

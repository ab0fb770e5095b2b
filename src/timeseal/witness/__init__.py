"""A C2SP tlog-witness anyone can run beside a log: its HTTP server and its own state."""

"""The HTTP platform: the TSA endpoint, and later the API, log and web UI."""

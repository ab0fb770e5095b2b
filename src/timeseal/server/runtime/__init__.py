"""Running the platform: the data directory, worker processes and their supervisor, housekeeping."""

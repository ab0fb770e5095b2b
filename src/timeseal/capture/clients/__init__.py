"""HTTP clients of a TimeSeal server: the TSA, the live recording API, and the log."""

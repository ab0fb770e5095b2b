"""Clients that produce evidence and talk to a TimeSeal server over HTTP."""

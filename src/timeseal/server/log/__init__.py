"""The public log's server side: the sequencer, its process, and asking witnesses to cosign."""

"""Detached CAdES signatures (CMS SignedData over bytes kept elsewhere): making one
(:mod:`.sign`) and checking one against roots the caller chooses (:mod:`.verify`), kept apart.

They sign a package's manifest (``proofs/manifest.p7s``); the checks also serve the PAdES
signature of certificate PDFs, whose ``/Contents`` is the same structure.
"""

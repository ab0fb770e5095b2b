"""``timeseal verify``: files and tokens, evidence packages, capture directories, recordings,
and the bilingual report."""

"""``timeseal verify``: capture directories, recordings, and the bilingual report."""
